"""The admin console at /console: server-rendered pages over the store, the hub and IAM, acting
as the signed-in principal (docs/console.md).

``markup``, the pages (``frame``, ``chime_pages``, ``live_pages``, ``iam_pages``), ``actions``,
``features``, ``figures``, ``security``, ``simulator`` and ``tail`` are pure; ``shell`` is the aiohttp side.
"""
