"""Jobs: their model, their store and the engine that runs them."""
