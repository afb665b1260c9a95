"""Check ginr's FID Inception against pytorch-fid's (a development check; neither package is a ginr dependency).

    pip install --no-deps --target /tmp/fidref torchvision pytorch-fid   # the matching torchvision for your torch
    PYTHONPATH=/tmp/fidref python benchmarks/fid_inception_check.py [--weights pt_inception-...-6726825d.safetensors]

Builds pytorch-fid's ``InceptionV3`` (torchvision's Inception-v3 with pytorch-fid's FID patches),
gives it and ``ginr_diffusion.FIDInception`` the same weights (the real file if ``--weights`` is
given, else random weights with random batch-norm statistics, in the file's key layout), and prints
the largest difference of their 2048-d pool features and of FIDs on random images, plus whether the
state-dict keys and shapes are identical (so the real file loads strictly into both).
"""

from __future__ import annotations

import argparse
from unittest import mock

import torch
from safetensors.torch import load_file

from ginr_core import frechet_distance
from ginr_diffusion.fid import FIDInception, load_fid_inception


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", help="the real weights converted to safetensors (ginr_diffusion.convert)")
    args = parser.parse_args()
    import pytorch_fid.inception as reference  # optional, development only

    torch.manual_seed(0)
    if args.weights:
        ours = load_fid_inception(args.weights)
        state = load_file(args.weights)
    else:
        ours = FIDInception()
        for module in ours.modules():  # non-trivial batch-norm statistics, so pooling and padding details matter
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.data.uniform_(0.5, 1.5)
                module.bias.data.uniform_(-0.2, 0.2)
        ours.eval()
        state = {k: v for k, v in ours.state_dict().items() if not k.endswith("num_batches_tracked")}
    # pytorch-fid loads the file into torchvision's Inception-v3 strictly: this succeeding means that our
    # parameter names and shapes are exactly the file's
    with mock.patch.object(reference, "load_state_dict_from_url", return_value=state):
        theirs = reference.InceptionV3([3]).eval()
    print(f"our {len(state)} tensors load strictly into pytorch-fid's network: True")
    with torch.no_grad():
        images = torch.rand(8, 3, 64, 64)
        a, b = ours(images), theirs(images)[0].flatten(1)
        difference, scale = (a - b).abs().max().item(), b.abs().max().item()
        print(f"pool features: max |ours - pytorch-fid| = {difference:.3g} (scale {scale:.3g})")
        other = (torch.rand(8, 3, 64, 64) * 0.5) ** 2
        fa = frechet_distance(torch.cat([a, ours(other)]), a)
        fb = frechet_distance(torch.cat([b, theirs(other)[0].flatten(1)]), b)
        print(f"Fréchet distance on these features: ours {fa:.6g}, pytorch-fid features {fb:.6g}")


if __name__ == "__main__":
    main()
