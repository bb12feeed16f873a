"""Where tools come from besides Python code: MCP servers and OpenAPI documents."""
