"""Execute requests for the SSA processes through the pywps test client, and their answers read back."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from xml.sax.saxutils import quoteattr

from lxml import etree
from pywps.tests import WpsClient

from wps_server.wps1.parse import OWS, WPS, XLINK

NS = {"wps": WPS, "ows": OWS, "xlink": XLINK}


@dataclass(frozen=True)
class Inline:
    """A complex input sent inline (as CDATA, or as an XML child when ``xml``)."""

    data: str
    mime_type: str | None = None
    xml: bool = False


@dataclass(frozen=True)
class Reference:
    href: str
    mime_type: str | None = None


Value = str | int | float | bool | Inline | Reference


@dataclass
class Answer:
    status: int
    root: etree._Element
    outputs: dict[str, tuple[str, bytes]] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return bool(self.root.xpath("//wps:ProcessSucceeded", namespaces=NS))

    @property
    def exception(self) -> tuple[str, str | None, str]:
        """(exceptionCode, locator, text) of the ExceptionReport."""
        found = self.root.xpath("//ows:Exception", namespaces=NS)
        assert found, etree.tostring(self.root)[:2000]
        text = " ".join(found[0].xpath("ows:ExceptionText/text()", namespaces=NS))
        return found[0].get("exceptionCode"), found[0].get("locator"), text

    def text(self, identifier: str) -> str:
        return self.outputs[identifier][1].decode()

    def mime(self, identifier: str) -> str:
        return self.outputs[identifier][0]


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def execute_xml(
    identifier: str, inputs: list[tuple[str, Value]], outputs: dict[str, str | None] | None = None
) -> bytes:
    parts = []
    for name, value in inputs:
        if isinstance(value, Inline):
            mime = f" mimeType={quoteattr(value.mime_type)}" if value.mime_type else ""
            body = value.data if value.xml else f"<![CDATA[{value.data}]]>"
            data = f"<wps:Data><wps:ComplexData{mime}>{body}</wps:ComplexData></wps:Data>"
        elif isinstance(value, Reference):
            mime = f" mimeType={quoteattr(value.mime_type)}" if value.mime_type else ""
            data = f"<wps:Reference xlink:href={quoteattr(value.href)}{mime}/>"
        else:
            text = _literal(value).replace("&", "&amp;").replace("<", "&lt;")
            data = f"<wps:Data><wps:LiteralData>{text}</wps:LiteralData></wps:Data>"
        parts.append(f"<wps:Input><ows:Identifier>{name}</ows:Identifier>{data}</wps:Input>")
    wanted = "".join(
        f"<wps:Output{' mimeType=' + quoteattr(mime) if mime else ''}>"
        f"<ows:Identifier>{name}</ows:Identifier></wps:Output>"
        for name, mime in (outputs or {}).items()
    )
    response = f"<wps:ResponseForm><wps:ResponseDocument>{wanted}</wps:ResponseDocument></wps:ResponseForm>"
    return (
        f'<wps:Execute service="WPS" version="1.0.0" xmlns:wps="{WPS}" xmlns:ows="{OWS}" '
        f'xmlns:xlink="{XLINK}"><ows:Identifier>{identifier}</ows:Identifier>'
        f"<wps:DataInputs>{''.join(parts)}</wps:DataInputs>{response if wanted else ''}</wps:Execute>"
    ).encode()


def execute(
    client: WpsClient,
    identifier: str,
    inputs: list[tuple[str, Value]],
    outputs: dict[str, str | None] | None = None,
) -> Answer:
    """A synchronous Execute by XML POST; the outputs are read back from the ExecuteResponse."""
    response = client.post("/wps", data=execute_xml(identifier, inputs, outputs), content_type="text/xml")
    root = etree.fromstring(response.get_data())
    answer = Answer(response.status_code, root)
    for output in root.xpath("//wps:ProcessOutputs/wps:Output", namespaces=NS):
        name = output.xpath("ows:Identifier/text()", namespaces=NS)[0]
        data = output.xpath("wps:Data/wps:ComplexData", namespaces=NS)
        if not data:
            literal = output.xpath("wps:Data/wps:LiteralData/text()", namespaces=NS)
            answer.outputs[name] = ("text/plain", "".join(literal).encode())
            continue
        element = data[0]
        children = [c for c in element if isinstance(c.tag, str)]
        if children:
            content = etree.tostring(children[0])
        elif element.get("encoding") == "base64":
            content = base64.b64decode(element.text or "")
        else:
            content = (element.text or "").encode()
        answer.outputs[name] = (element.get("mimeType"), content)
    return answer
