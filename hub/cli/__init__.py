"""The operators' command lines of `retail-hub`."""
