

def test_cutout_sets_one_clipped_square_per_image_to_the_mean():
    from nasgen.data.datasets import INFO, cutout

    images = torch.ones(64, 1, 8, 8)
    cut = cutout(images, 4, INFO["digits"], torch.Generator().manual_seed(0))
    holes = cut != 1
    assert torch.all(cut[holes] == INFO["digits"].mean[0])
    sizes = holes.sum(dim=(1, 2, 3))
    assert sizes.min() >= 4 and sizes.max() == 16  # a 2x2 corner at least, the full 4x4 inside
    rows, cols = holes.any(3).squeeze(1), holes.any(2).squeeze(1)
    assert torch.equal(holes.squeeze(1), rows[:, :, None] & cols[:, None, :])  # one rectangle each
