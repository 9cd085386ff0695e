"""Ad copy: offline templates, an OpenAI-compatible provider, and the check every copy passes before approval."""
