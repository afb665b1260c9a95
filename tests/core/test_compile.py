"""The compiled path (``model.compile()``, ``train.compile``) equals eager, family by family (CPU, inductor)."""

import pytest
import torch

from ginr_core import GeneralizableINR

FAMILIES = ["locinr", "ipc", "transinr", "learned_init", "ipc_nerf", "transinr_nerf"]


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_compiled_models_equal_eager_forward_and_gradients(family, tmp_path, tiny, inputs):
    torch._dynamo.reset()
    # eval mode: dropout and the NeRFs' depth jitter draw from torch's generator in eager code, from inductor's
    # own in compiled code (equal in distribution, not in value)
    eager = tiny(family).eval()
    compiled = tiny(family).eval()
    compiled.load_state_dict(eager.state_dict())
    assert compiled.compile() is compiled and compiled.compiled and not eager.compiled
    x, coords = inputs(eager)
    torch.manual_seed(0)
    a = eager(x, coords)
    torch.manual_seed(0)
    b = compiled(x, coords)
    torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
    a.square().mean().backward()
    b.square().mean().backward()
    for (name, p), q in zip(eager.named_parameters(), compiled.parameters(), strict=True):
        if p.grad is not None:
            torch.testing.assert_close(q.grad, p.grad, rtol=1e-3, atol=1e-5, msg=name)
    # chunked decoding (a shorter last chunk) and the saved weights are the eager model's
    with torch.no_grad():
        latents = eager.encode(x)
        torch.testing.assert_close(compiled.decode(latents, coords, chunk_size=7), eager.decode(latents, coords))
    compiled.save_pretrained(tmp_path)
    loaded = GeneralizableINR.from_pretrained(tmp_path)
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in eager.state_dict().items())
