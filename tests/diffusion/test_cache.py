"""ginr_diffusion.cache: sharded, memory-mapped latent caches."""

import json

import pytest
import torch

from ginr_diffusion import LatentCache, LatentCacheError, LatentStatistics, missing_shards, write_manifest, write_shard
from ginr_diffusion.cache import num_shards, shard_range


def _write(folder, latents, labels, shard_size, dtype="float32", names=None):
    for s in range(num_shards(len(latents), shard_size)):
        rows = shard_range(s, len(latents), shard_size)
        write_shard(folder, s, latents[rows.start : rows.stop], labels[rows.start : rows.stop], dtype=dtype)
    write_manifest(folder, len(latents), shard_size, dtype=dtype, class_names=names)
    return LatentCache(folder)


def test_shards_read_back_any_rows_with_labels_names_and_merged_statistics(tmp_path):
    g = torch.Generator().manual_seed(0)
    latents = 3.0 + torch.randn(103, 4, 6, generator=g) * torch.linspace(0.1, 2, 6)
    labels = torch.randint(0, 5, (103,), generator=g)
    cache = _write(tmp_path / "c", latents, labels, shard_size=16, names=list("abcde"))
    assert len(cache) == 103 and cache.shape == (4, 6) and len(cache.shards) == 7 and cache.class_names == list("abcde")
    index = torch.tensor([102, 0, 17, 17, 64, 5, 101])  # across shards, repeated, unordered
    got, got_labels = cache[index]
    assert got.dtype == torch.float32 and torch.equal(got, latents[index]) and torch.equal(got_labels, labels[index])
    assert torch.equal(cache.labels(), labels)
    whole = LatentStatistics().update(latents)
    merged = cache.statistics()
    assert merged.count == 103
    torch.testing.assert_close(merged.mean, whole.mean)
    torch.testing.assert_close(merged.variance, whole.variance)
    with pytest.raises(IndexError, match="103 items"):
        cache[torch.tensor([103])]


@pytest.mark.parametrize(("dtype", "tolerance"), [("float16", 1e-3), ("bfloat16", 8e-3)])
def test_half_precision_storage_halves_the_bytes_within_its_rounding(tmp_path, dtype, tolerance):
    latents = torch.randn(64, 8, 16, generator=torch.Generator().manual_seed(1))
    labels = torch.zeros(64, dtype=torch.long)
    full = _write(tmp_path / "f32", latents, labels, 32)
    half = _write(tmp_path / dtype, latents, labels, 32, dtype=dtype)
    size = lambda c: sum(p.stat().st_size for p in c.folder.glob("shard-*"))  # noqa: E731
    assert size(half) < 0.6 * size(full)
    got, _ = half[torch.arange(64)]
    assert ((got - latents).abs() / latents.abs().clamp_min(1)).max() < tolerance
    # the statistics come from the float32 latents, before rounding
    torch.testing.assert_close(half.statistics().mean, full.statistics().mean)


def test_an_interrupted_cache_names_what_is_missing_and_damage_is_named(tmp_path):
    latents = torch.randn(40, 2, 3)
    folder = tmp_path / "c"
    write_shard(folder, 0, latents[:16])
    write_shard(folder, 2, latents[32:])
    assert missing_shards(folder, 40, 16) == [1]
    with pytest.raises(LatentCacheError, match=r"shards \[1\] are missing"):
        write_manifest(folder, 40, 16)
    with pytest.raises(LatentCacheError, match="no manifest.json; the cache is incomplete"):
        LatentCache(folder)
    # a shard cut short (a kill during a write that was not atomic, a full disk) counts as missing
    write_shard(folder, 1, latents[16:32])
    path = folder / "shard-00001.safetensors"
    path.write_bytes(path.read_bytes()[:-10])
    assert missing_shards(folder, 40, 16) == [1]
    write_shard(folder, 1, latents[16:30])  # whole, but of the wrong length
    with pytest.raises(LatentCacheError, match="shard-00001.safetensors: 14 latents, expected 16"):
        write_manifest(folder, 40, 16)
    write_shard(folder, 1, latents[16:32])
    write_manifest(folder, 40, 16)
    assert torch.equal(LatentCache(folder)[torch.arange(40)][0], latents)
    (folder / "manifest.json").write_text(json.dumps({"count": "many"}))
    with pytest.raises(LatentCacheError, match="damaged manifest"):
        LatentCache(folder)
    with pytest.raises(ValueError, match="storage dtype must be one of"):
        write_shard(folder, 0, latents, dtype="int8")
