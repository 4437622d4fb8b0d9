"""Make s2p's SIFT filtering reproducible in long-lived worker processes.

s2p filters SIFT matches with the `ransac` package, whose C library draws samples
from a private linear congruential generator (`static lcg_knuth_seed`, starting at
0 when the library is loaded) and never reseeds it. `s2p.main` runs each stage in
freshly forked pool processes, so the generator there starts from (about) its
initial state; a Dask worker keeps it across tasks and jobs, so a tile's pointing
correction - and the DSM's edges - would depend on what the worker ran before.

`reset_ransac_generator()` puts the generator back to its load-time state before
each pointing step: every tile then sees the same sample sequence, whatever ran
before on that worker. The seed's address comes from the library's ELF symbol
table; if the symbol is missing (another build), nothing is done.
"""

from __future__ import annotations

import ctypes
import struct
from functools import cache

_SEED_SYMBOL = b"lcg_knuth_seed"
_ANCHOR_SYMBOL = b"find_fundamental_matrix_by_ransac"
_SHT_SYMTAB = 2


def _elf64_symbols(path: str, wanted: set[bytes]) -> dict[bytes, tuple[int, int]]:
    """Value and size of the `wanted` symbols of a little-endian ELF64 file's .symtab."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return {}
    e_shoff = struct.unpack_from("<Q", data, 0x28)[0]
    e_shentsize, e_shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, e_shoff + i * e_shentsize) for i in range(e_shnum)]
    found: dict[bytes, tuple[int, int]] = {}
    for _name, sh_type, _flags, _addr, offset, size, link, _info, _align, entsize in sections:
        if sh_type != _SHT_SYMTAB or entsize == 0:
            continue
        strtab_offset = sections[link][4]
        for position in range(offset, offset + size, entsize):
            st_name, _st_info, _st_other, _st_shndx, st_value, st_size = struct.unpack_from(
                "<IBBHQQ", data, position
            )
            end = data.index(b"\0", strtab_offset + st_name)
            name = data[strtab_offset + st_name : end]
            if name in wanted:
                found[name] = (st_value, st_size)
    return found


@cache
def _seed_location() -> tuple[int, int] | None:
    """Address and size of the generator's state in this process, or None if it cannot be found."""
    try:
        import ransac

        library = ransac.lib
        symbols = _elf64_symbols(library._name, {_SEED_SYMBOL, _ANCHOR_SYMBOL})
        if _SEED_SYMBOL not in symbols or _ANCHOR_SYMBOL not in symbols:
            return None
        anchor = ctypes.cast(getattr(library, _ANCHOR_SYMBOL.decode()), ctypes.c_void_p).value
        if anchor is None:
            return None
        load_bias = anchor - symbols[_ANCHOR_SYMBOL][0]
        seed_value, seed_size = symbols[_SEED_SYMBOL]
        if seed_size not in (4, 8):
            return None
        return load_bias + seed_value, seed_size
    except (ImportError, OSError, AttributeError, ValueError, struct.error):
        return None


def reset_ransac_generator() -> bool:
    """Reset the RANSAC generator to its load-time state; False if it could not be located."""
    location = _seed_location()
    if location is None:
        return False
    address, size = location
    ctypes.memset(address, 0, size)
    return True
