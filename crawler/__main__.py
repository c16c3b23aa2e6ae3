"""`python -m crawler`: the same program as the `crawl` command."""

import multiprocessing

if __name__ == "__main__":
    # First thing: a frozen executable's parser children re-enter here and must stop at this call.
    multiprocessing.freeze_support()
    from crawler.cli import entry_point

    entry_point()
