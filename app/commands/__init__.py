"""Command-line verbs that live beside their feature.

`app.cli` imports every module of this package and calls its `register(sub, bench_sub)`, where
`sub` is the top-level subparsers object and `bench_sub` the one of `huleedu bench`. A module adds
its parsers there and sets `handler` (a function of the parsed arguments returning the exit code)
on each with `set_defaults(handler=...)`. Keep the module light: import the feature inside the
handler so `huleedu --version` stays instant.
"""
