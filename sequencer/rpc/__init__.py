"""The HTTP/JSON-RPC transport shared by the sequencer and every follower: the HTTP server,
the JSON-RPC dispatcher and its error mapping, the method table and OpenRPC document, the read
methods over a store, wire shapes, and a small blocking client."""
