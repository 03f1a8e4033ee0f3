"""The MusicGym environments: one module per environment, each with its native vector version."""
