"""Category slugs from media names: ASCII pinyin, no spaces or brackets, one spelling per source.

pypinyin (not a hand-written table, not xpinyin) because it resolves heteronyms from its phrase
dictionary (投行 → touhang, where the predecessor wrote "touxing") and is maintained.
"""

from __future__ import annotations

import re
import unicodedata

# Slugs the predecessor's site already uses for these names; kept so links keep working.
KNOWN_SLUGS = {
    "东财滚动新闻": "emnews",
    "中国新闻网": "zhongguoxinwenwang",
    "新华社": "xinhuashe",
    "证券时报": "zhengquanshibao",
    "中国证券报": "zhongguozhengquanbao",
    "上海证券报": "shanghaizhengquanbao",
    "站长消息": "sitenews",
}

_NOT_SLUG = re.compile(r"[^a-z0-9]+")
# Slugs no other media name may take: the known ones (a media literally named "zhongguoxinwenwang"
# must not squat 中国新闻网's category) and the site's own top-level paths, which a category's post
# URLs (/<slug>/<year>/…) would otherwise share.
RESERVED_SLUGS = frozenset(KNOWN_SLUGS.values()) | {
    "assets", "category", "categories", "feed", "index", "search", "archive", "archives", "pagefind",
    "page", "tag", "tags", "old", "media",
}  # fmt: skip

# Finance words pypinyin's phrase dictionary reads wrongly; extend when a media name shows one.
EXTRA_PHRASES = {
    "投行": [["tóu"], ["háng"]],
    "外资行": [["wài"], ["zī"], ["háng"]],
    "大行": [["dà"], ["háng"]],
}
_phrases_loaded = False


def _pinyin(text: str) -> list[str]:
    from pypinyin import Style, lazy_pinyin, load_phrases_dict  # lazy: dictionaries take a moment to load

    global _phrases_loaded
    if not _phrases_loaded:
        load_phrases_dict(EXTRA_PHRASES)
        _phrases_loaded = True
    return list(lazy_pinyin(text, style=Style.NORMAL, errors="default"))


def normalise_media(name: str) -> str:
    """One spelling per source: NFKC (full-width → ASCII), collapsed whitespace."""
    return " ".join(unicodedata.normalize("NFKC", name).split())


def media_slug(name: str) -> str:
    """The pinyin slug for a media name (lower-case ASCII letters and digits only)."""
    media = normalise_media(name)
    if media in KNOWN_SLUGS:
        return KNOWN_SLUGS[media]
    slug = _NOT_SLUG.sub("", "".join(_pinyin(media)).lower())
    if not slug:
        return "media-1"
    return f"{slug}-1" if slug in RESERVED_SLUGS else slug


# Category titles the predecessor's site gives other than "<media>新闻".
KNOWN_TITLES = {"东财滚动新闻": "东财滚动新闻"}


def category_title(media: str) -> str:
    name = normalise_media(media)
    return KNOWN_TITLES.get(name) or f"{name}新闻"
