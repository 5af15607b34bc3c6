"""Recording another source's id on an already-written post (the same story, reached twice).

When the 中国新闻网 original is mirrored first and its Eastmoney copy turns up later, the copy
becomes an alias: in the state store, and in the original post's ``aliases:`` so the archive says
so too. The post's front matter is rewritten in the renderer's key order and its content hash
recomputed, so ``archive verify`` and a later ``rebuild`` agree with it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from crawler.archive.postfile import parse_post
from pipelines.render import PROVENANCE_KEYS, SEED_KEYS, QuotedStr, content_hash_of, dump_front_matter

if TYPE_CHECKING:
    from crawler.state import ArticleRecord, StateStore
    from pipelines.store import PostStore

logger = logging.getLogger(__name__)


def _ordered(meta: dict[str, Any]) -> dict[str, Any]:
    order = [*SEED_KEYS, *PROVENANCE_KEYS]
    out = {k: meta[k] for k in order if k in meta}
    out.update((k, v) for k, v in meta.items() if k not in out)
    if isinstance(out.get("title"), str):
        out["title"] = QuotedStr(out["title"])
    return out


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
    digest = content_hash_of(_ordered(meta), body)
    meta["content_hash"] = digest
    ordered = _ordered(meta)
    if "render_with_liquid" in ordered:  # last, as render_post writes it
        ordered["render_with_liquid"] = ordered.pop("render_with_liquid")
    store.write(original.post_path, f"---\n{dump_front_matter(ordered)}---\n{body}\n")
    state.set_content_hash(original.key, digest)
    return True
