"""Trusted checks of a01_crosses: hashed cross ids, the seen-cross share, a wide model with a hashed cross.

Instructor-only (not in the learner copy). Each check runs in the grading
process (course_lib.autograde): it sends the submission inputs, fresh ones
drawn from ``rng`` (seeded per submission) next to the notebook's visible
examples, and judges the values that come back. The expected values never
leave this process.
"""

import numpy as np

from course_lib.autograde import Task
from course_lib.checks import check_auc_above, check_close, check_number, check_range, check_shape
from course_lib.metrics import auc

PRIME = 1_000_003


def hashed(a, b, num_bins):
    """The task's hash: (a * 1_000_003 + b) mod num_bins, in int64."""
    return (np.asarray(a, dtype=np.int64) * PRIME + np.asarray(b, dtype=np.int64)) % num_bins


def check_cross_id(student, rng):
    ids = check_shape(student.call("cross_id", np.array([1, 2, 3]), np.array([10, 20, 30]), 1000,
                                   what="cross_id(a, b, 1000)"), (3,), "cross_id(a, b, 1000)")
    check_range(ids, 0, 999, "cross_id(a, b, 1000)")
    check_close(student.call("cross_id", np.array([1, 2]), np.array([10, 20]), 1000), [13, 26],
                "cross_id([1, 2], [10, 20], 1000)")
    both_ways = student.call("cross_id", np.array([1, 2]), np.array([2, 1]), 1 << 20)
    assert len(set(np.asarray(both_ways).ravel().tolist())) == 2, (
        "cross_id should tell (1, 2) from (2, 1), but both got the same id.\n"
        "Hint: multiply a by 1_000_003 before adding b; a + b is the same both ways.")
    # Fresh pairs with ids up to 200,000 (a * 1_000_003 needs int64) and a fresh number of bins.
    a, b = rng.integers(1, 200_000, 500), rng.integers(1, 200_000, 500)
    bins = int(rng.integers(1_000, 1_000_000))
    got = check_shape(student.call("cross_id", a, b, bins), (500,), f"cross_id on 500 pairs, {bins} bins")
    check_close(got, hashed(a, b, bins), f"cross_id on 500 pairs of ids up to 200,000 and {bins} bins "
                "(a * 1_000_003 needs int64)", tol=0)


def check_seen_share(student, rng):
    share = check_number(student.call("seen_cross_share", np.array([1, 2, 2, 3]), np.array([2, 3, 4, 5])),
                         "seen_cross_share")
    check_close(share, 0.5, "seen_cross_share([1, 2, 2, 3], [2, 3, 4, 5])")
    check_close(student.call("seen_cross_share", np.array([7]), np.array([7, 7, 7, 8])), 0.75,
                "seen_cross_share counts duplicate new rows")
    check_close(student.call("seen_cross_share", np.array([1, 2]), np.array([3])), 0.0,
                "seen_cross_share with nothing seen")
    train, new = rng.integers(0, 50, 200), rng.integers(0, 80, 300)
    check_close(student.call("seen_cross_share", train, new), np.isin(new, train).mean(),
                "seen_cross_share on 300 random new ids")


CROSS_WIDE_PROBE = '''
def probe(inputs):
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    model = build_cross_wide(4096)
    if not isinstance(model, keras.Model):
        return {"type": type(model).__name__}
    pairs = {"a": inputs["a"], "b": inputs["b"]}
    out = {"type": "Model", "params": model.count_params(),
           "first": np.asarray(model({"a": inputs["a"][:5], "b": inputs["b"][:5]})),
           "hashed": np.asarray(HashedCross(inputs["bins"])(inputs["qa"], inputs["qb"]))}
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=keras.losses.BinaryCrossentropy(from_logits=True))
    model.fit(pairs, inputs["y"], epochs=12, batch_size=256, verbose=0)
    out["scores"] = np.asarray(model.predict({"a": inputs["ea"], "b": inputs["eb"]}, verbose=0)).ravel()
    return out
'''


def check_cross_wide(student, rng):
    # Fresh ordered pairs (30 scattered ids): a label per ordered pair, 6,000 training rows.
    values = rng.choice(np.arange(1, 200_000), size=30, replace=False).astype(np.int64)
    label = (rng.random((30, 30)) < 0.5).astype(np.float32)
    i, j = rng.integers(0, 30, 6000), rng.integers(0, 30, 6000)
    # Scored on 2,000 new rows of pairs seen in training: their labels never reach the kernel.
    pick = rng.integers(0, 6000, 2000)
    qa, qb = rng.integers(1, 200_000, 50), rng.integers(1, 200_000, 50)
    qa[:2], qb[:2] = [193609, 7], [7, 193609]
    bins = 999_983
    out = student.ask(CROSS_WIDE_PROBE, "build_cross_wide(4096), trained on the grader's pairs",
                      a=values[i], b=values[j], y=label[i, j], ea=values[i[pick]], eb=values[j[pick]],
                      qa=qa, qb=qb, bins=bins)
    kind = str(out["type"])
    assert kind == "Model", f"build_cross_wide should return a keras.Model, but it returned a {kind}."
    check_shape(np.asarray(out["first"]).reshape(5, -1), (5, 1), "build_cross_wide(...) on 5 rows")
    check_close(out["hashed"], hashed(qa, qb, bins), f"HashedCross({bins}) of 50 pairs, (193609, 7) and "
                "(7, 193609) first", tol=0)
    params = int(out["params"])
    assert params >= 3 * 4096, (
        f"build_cross_wide(4096) should hold one weight per hashed id of a, b and the cross (>= 12,288), "
        f"but it has {params}.\nHint: three layers.Embedding(num_bins, 1) lookups.")
    check_auc_above(auc(label[i[pick], j[pick]], out["scores"]), 0.95,
                    "the AUC of build_cross_wide on new rows of the pairs it trained on",
                    hint="the label belongs to the ordered pair (a, b): only a cross weight that tells (a, b) "
                         "from (b, a) can memorise it (ids alone reach about 0.6). Check HashedCross: "
                         "a * 1_000_003 + b in int64, then ops.mod.")


TASKS = [
    Task("a01_test_cross_id", "cross_id", check_cross_id),
    Task("a01_test_seen_share", "seen_cross_share", check_seen_share),
    Task("a01_test_cross_wide", "build_cross_wide", check_cross_wide, own_work=("a01_cross_wide",)),
]
