"""`python -m ttsx`: the same as the `ttsx` command."""
from ttsx.app.cli import main

if __name__ == "__main__":
    main()
