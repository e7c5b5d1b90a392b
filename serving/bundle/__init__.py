"""The versioned artifact the assistant runs on: loading and verifying a bundle (`load`, with
the offline lexicon's schema in `lexicon`), the MLflow registry (`registry`), the served
bundle and its hot swap (`source`), and the runtime built from one bundle (`runtime`).

`load`, `lexicon` and `registry` are plain data, below everything that reads a bundle;
`runtime` and `source` assemble agents and tools, so they sit above them (docs/ARCHITECTURE.md).
"""
