"""macforge."""
