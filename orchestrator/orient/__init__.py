"""orient."""
