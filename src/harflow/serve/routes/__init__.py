"""One router per resource; ``harflow.serve.main`` includes them."""
