"""`python -m bench --users 1000000 --backend sqlite`."""

from .run import main

main()
