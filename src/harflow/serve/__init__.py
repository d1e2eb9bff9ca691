"""Real-time recognition service: streaming WebSocket + REST inference, change events, durable history."""
