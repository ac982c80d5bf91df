"""Site names come from the site type (workbench.models.sites.site_name), and every name it
builds parses back to the same type and block."""

from __future__ import annotations

import pytest

from workbench.errors import SiteError
from workbench.models.sites import SITE_KINDS, all_sites, parse_site, site_name


def test_every_site_type_round_trips() -> None:
    for kind in SITE_KINDS:
        layer = None if kind == "embed" else 3
        name = site_name(kind, layer)
        site = parse_site(name)
        assert (site.kind, site.layer, site.name) == (kind, layer, name)
    assert site_name("resid_post", 12) == "blocks.12.hook_resid_post"  # TransformerLens's spelling
    assert site_name("z", 0) == "blocks.0.attn.hook_z"


def test_all_sites_lists_each_block_in_forward_order() -> None:
    names = all_sites(2)
    assert names[0] == "hook_embed" and len(names) == 1 + 2 * (len(SITE_KINDS) - 1)
    assert names.index("blocks.0.hook_resid_pre") < names.index("blocks.0.attn.hook_z")
    assert names.index("blocks.0.hook_resid_mid") < names.index("blocks.0.hook_resid_post")
    assert all(parse_site(n).name == n for n in names)


@pytest.mark.parametrize(
    ("kind", "layer", "message"),
    [("mlp_post", 1, "not a site type"), ("embed", 0, "no block"), ("z", None, "block number"),
     ("resid_post", -1, "count from 0")],
)  # fmt: skip
def test_a_wrong_site_is_refused(kind: str, layer: int | None, message: str) -> None:
    with pytest.raises(SiteError, match=message):
        site_name(kind, layer)
