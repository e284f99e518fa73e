"""The application: the `ttsx` command line, the bench, `ttsx info` and the speech server."""
