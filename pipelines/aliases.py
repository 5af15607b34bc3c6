"""Recording another source's id on an already-written post (the same story, reached twice).

When the 中国新闻网 original is mirrored first and its Eastmoney copy turns up later, the copy
becomes an alias: in the state store, and in the original post's ``aliases:`` so the archive says
so too. The post's front matter is rewritten in the renderer's key order and its content hash
recomputed, so ``archive verify`` and a later ``rebuild`` agree with it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from crawler.postformat import content_hash_of, dump_post, ordered_front_matter, parse_post

if TYPE_CHECKING:
    from crawler.state import ArticleRecord, StateStore
    from pipelines.store import PostStore

logger = logging.getLogger(__name__)


def add_alias_to_post(store: PostStore, state: StateStore, original: ArticleRecord, alias: str) -> bool:
    """Add ``alias`` to the original's post; False when there is no readable post to change."""
    text = store.read(original.post_path) if original.post_path else None
    if text is None:
        return False
    post = parse_post(original.post_path, text)
    if post.meta is None:
        logger.warning("cannot record alias %s on %s: %s", alias, original.post_path, post.error)
        return False
    aliases = sorted({str(a) for a in post.meta.get("aliases") or []} | {alias})
    if aliases == post.meta.get("aliases"):
        return False
    meta = {k: v for k, v in post.meta.items() if k != "content_hash"}
    meta["aliases"] = aliases
    body = post.body.removesuffix("\n")
    meta["content_hash"] = digest = content_hash_of(ordered_front_matter(meta), body)
    store.write(original.post_path, dump_post(meta, body + "\n"))
    state.set_content_hash(original.key, digest)
    return True
