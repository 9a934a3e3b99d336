"""mnas.py: the reward of Eq. 2-3 and the factorized search space of Sec. 4.1."""

import random

import pytest

from mnas import HARD, SOFT, SearchSpace, reward
from models import REFERENCE_ARCHS, replace_block


def test_reward_equals_accuracy_at_the_target():
    for c in (SOFT, HARD):
        assert reward(0.75, 80.0, 80.0, c.alpha, c.beta) == 0.75


def test_soft_reward_two_times_slower_costs_2_pow_minus_007():
    assert reward(0.5, 160, 80) == pytest.approx(0.5 * 2 ** -0.07)
    assert reward(0.5, 40, 80) == pytest.approx(0.5 * 0.5 ** -0.07)  # 2x faster earns a bonus
    # Sec. 3: 2x latency for 5% more accuracy is (about) a wash.
    assert reward(0.5 * 1.05, 160, 80) == pytest.approx(reward(0.5, 80, 80), rel=0.002)


def test_hard_reward_is_flat_below_and_acc_t_over_lat_above():
    assert reward(0.5, 20, 80, HARD.alpha, HARD.beta) == 0.5
    assert reward(0.5, 79, 80, HARD.alpha, HARD.beta) == 0.5
    assert reward(0.5, 160, 80, HARD.alpha, HARD.beta) == pytest.approx(0.5 * 80 / 160)


def test_reward_rejects_non_positive_latency():
    with pytest.raises(ValueError):
        reward(0.5, 0.0, 80)


def test_space_has_432_choices_per_block_and_7_blocks():
    space = SearchSpace()
    assert len(space.decisions) == 7 * 6
    per_block = 1
    for _, n in space.decisions[:6]:
        per_block *= n
    assert per_block == 432
    assert space.size == 432 ** 7
    assert [name for name, _ in space.decisions[:6]] == [
        "block1.conv_op", "block1.kernel", "block1.se_ratio", "block1.skip", "block1.filters",
        "block1.layers"]


def test_filters_and_layers_are_relative_to_mobilenetv2():
    space = SearchSpace()
    assert space.block_filters(1) == (18, 24, 30)  # 0.75x, 1x, 1.25x of 24
    assert space.block_layers(3) == (3, 4, 5)  # 4 - 1, 4, 4 + 1
    assert space.block_layers(0) == (0, 1, 2)  # a block of depth 1 may vanish


def test_encode_decode_round_trip():
    space, rng = SearchSpace(), random.Random(1)
    for _ in range(200):
        tokens = space.sample(rng)
        assert space.encode(space.decode(tokens)) == tokens


def test_decode_rejects_bad_tokens():
    space = SearchSpace()
    with pytest.raises(ValueError, match="expected 42 tokens"):
        space.decode([0] * 5)
    with pytest.raises(ValueError, match=r"token for block1.conv_op must be in \[0, 4\)"):
        space.decode([4] + [0] * 41)


def test_encode_names_what_is_outside_the_space():
    # MnasNet-A1 itself was found in the paper's space, but its 112-wide block 5 is not 0.75/1/1.25
    # x 96.
    with pytest.raises(ValueError, match=r"blocks\[4\]: filters 112 is not in the search space"):
        SearchSpace().encode(REFERENCE_ARCHS["mnasnet-a1"])
    with pytest.raises(ValueError, match=r"blocks\[1\]: kernel 7"):
        SearchSpace().encode(replace_block(REFERENCE_ARCHS["mobilenetv2"], 1, kernel=7))


def test_sampling_is_seeded():
    space = SearchSpace()
    assert space.sample(random.Random(3)) == space.sample(random.Random(3))
    assert space.sample(random.Random(3)) != space.sample(random.Random(4))


def test_reward_holds_for_sub_millisecond_latencies_and_names_bad_input():
    # A latency table of tiny layers predicts fractions of a millisecond; Eq. 2 is scale-free.
    assert reward(0.5, 0.4, 0.8) == pytest.approx(reward(0.5, 40, 80))
    assert reward(0.5, 0.5, 0.5, HARD.alpha, HARD.beta) == 0.5
    with pytest.raises(ValueError, match="latency and target must be positive"):
        reward(0.5, 10.0, 0.0)


def test_a_read_only_log_leaves_a_cut_line_for_the_writer_to_repair(tmp_path):
    from mnas import Child, SearchLog

    path = tmp_path / "search.jsonl"
    SearchLog(path).append(Child(0, [1], {}))
    with open(path, "a") as f:
        f.write('{"step": 1, "tok')  # a crash mid-write
    cut = path.read_bytes()
    # reading changes nothing
    assert len(SearchLog(path).children) == 1 and path.read_bytes() == cut
    assert (
        len(SearchLog(path, repair=True).children) == 1
        and path.read_bytes() == cut[: cut.rfind(b"\n") + 1]
    )


def test_inline_executor_passes_keyword_arguments():
    from runner import InlineExecutor

    assert InlineExecutor().submit(lambda a, b=0: a - b, 5, b=2).result() == 3


# ----------------------------------------------------------------------------- the cell space


def test_cell_space_decodes_six_tokens_into_seven_blocks_of_the_same_decisions():
    from mnas import CellSpace
    from models import MOBILENETV2_BLOCKS

    space = CellSpace()
    assert [name for name, _ in space.decisions] == [
        "cell.conv_op", "cell.kernel", "cell.se_ratio", "cell.skip", "cell.filters", "cell.layers"]
    assert space.size == 432
    arch = space.decode([2, 1, 1, 2, 2, 0])  # MBConv3 5x5, SE 0.25, no skip, 1.25x width, depth-1
    assert len(arch.blocks) == 7
    for b, (_, c, n, s) in zip(arch.blocks, MOBILENETV2_BLOCKS):
        assert (b.op, b.expansion, b.kernel, b.se_ratio, b.skip) == ("mbconv", 3, 5, 0.25, "none")
        assert (b.out, b.repeats, b.stride) == (round(1.25 * c), n - 1, s)  # each block's own
    with pytest.raises(ValueError, match="expected 6 tokens, got 42"):
        space.decode([0] * 42)


def test_cell_space_encode_decode_round_trip_and_blocks_that_differ_are_named():
    from mnas import CellSpace

    space, rng = CellSpace(), random.Random(2)
    for _ in range(100):
        tokens = space.sample(rng)
        assert len(tokens) == 6 and space.encode(space.decode(tokens)) == tokens
    arch = space.decode([3, 0, 0, 1, 1, 1])  # MobileNetV2's own block, in every block
    with pytest.raises(ValueError, match=r"blocks\[3\]: kernel 5 differs from blocks\[0\]'s 3"):
        space.encode(replace_block(arch, 3, kernel=5))
    with pytest.raises(ValueError, match=r"blocks\[2\]: filters 1.25 differs from blocks\[0\]'s 1"):
        space.encode(replace_block(arch, 2, out=40))  # 1.25 x 32
    with pytest.raises(ValueError, match=r"blocks\[1\]: conv_op \('mbconv', 6\) differs"):
        space.encode(REFERENCE_ARCHS["mobilenetv2"])  # its first block is a dconv
    assert SearchSpace().encode(arch) == [3, 0, 0, 1, 1, 1] * 7  # a cell is a factorized point
