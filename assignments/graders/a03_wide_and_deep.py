"""Trusted checks of a03_wide_and_deep: the joint probability, JointModel's two optimizers, its gradient norms.

Instructor-only (not in the learner copy). Each check runs in the grading
process (course_lib.autograde). For the model tasks the grader starts both
branches from fresh random weights (seeded per submission), asks the
submission for one training step on a fresh batch, and compares the weights
and the reported norms with its own step, computed here with a
GradientTape on the same start.
"""

import numpy as np

from course_lib.autograde import Task
from course_lib.checks import check_close, check_number, check_probabilities, check_shape, ordered_pairs, toy_branches


def sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z, dtype=np.float64)))


def check_joint(student, rng):
    p = check_shape(student.call("joint_probability", np.array([0.0, 1.0, -2.0]), np.array([0.0, 1.0, 0.5])), (3,),
                    "joint_probability(3 logits, 3 logits)")
    check_probabilities(p, "joint_probability(...)")
    check_close(p, [0.5, 0.8808, 0.1824], "joint_probability([0, 1, -2], [0, 1, 0.5])")
    # Extreme logits: exp of a large positive number is inf, and inf / inf is NaN.
    extreme = student.call("joint_probability", np.array([1000.0, -1000.0, 0.0, 700.0]),
                           np.array([0.0, 0.0, -800.0, 10.0]))
    check_probabilities(extreme, "joint_probability with logits of +-1000 (no NaN: never exponentiate a large "
                        "positive number)")
    check_close(extreme, [1.0, 0.0, 0.0, 1.0], "joint_probability with logits of +-1000")
    wide, deep = rng.normal(0, 3, 50), rng.normal(0, 3, 50)
    check_close(student.call("joint_probability", wide, deep), sigmoid(wide + deep),
                "joint_probability of 50 random logit pairs", tol=1e-6)


STEP_PROBE = '''
def probe(inputs):
    import keras
    import numpy as np
    from course_lib.checks import toy_branches

    x, y = {"a": inputs["a"], "b": inputs["b"]}, inputs["y"]
    out = {}
    for run, (wide_lr, deep_lr) in enumerate(inputs["rates"]):
        wide, deep = toy_branches(seed=0)
        wide.set_weights(inputs["wide"])
        deep.set_weights(inputs["deep"])
        joint = JointModel(wide, deep, keras.optimizers.SGD(float(wide_lr)), keras.optimizers.SGD(float(deep_lr)))
        if run == 0:
            out["output"] = np.asarray(joint(x))
        joint.compile(loss=keras.losses.BinaryCrossentropy())
        logs = joint.fit(x, y, batch_size=len(y), epochs=1, shuffle=False, verbose=0).history
        out[f"wide{run}"], out[f"deep{run}"] = wide.get_weights(), deep.get_weights()
        out[f"iterations{run}"] = np.array([int(joint.wide_optimizer.iterations), int(joint.deep_optimizer.iterations)])
        out[f"keys{run}"] = np.array(sorted(logs))
        for key in ("loss", "wide_grad_norm", "deep_grad_norm"):
            if key in logs:
                out[f"{key}{run}"] = np.asarray(logs[key][-1], dtype=np.float64)
    return out
'''


def fresh_start(rng):
    """Both branches at fresh random weights: (wide weights, deep weights)."""
    wide, deep = toy_branches(seed=0)
    return ([w + rng.normal(0, 0.05, w.shape).astype(np.float32) for w in wide.get_weights()],
            [w + rng.normal(0, 0.05, w.shape).astype(np.float32) for w in deep.get_weights()])


def reference_step(start, x, y):
    """This process's own joint step from ``start``: (output, loss, wide grads, deep grads), all dense."""
    import keras
    import tensorflow as tf
    from keras import ops

    wide, deep = toy_branches(seed=0)
    wide.set_weights(start[0])
    deep.set_weights(start[1])
    with tf.GradientTape() as tape:
        pred = ops.sigmoid(wide(x) + deep(x))
        loss = keras.losses.BinaryCrossentropy()(y.reshape(-1, 1), pred)
    grads = tape.gradient(loss, [wide.trainable_variables, deep.trainable_variables])
    dense = [[np.asarray(tf.convert_to_tensor(g), dtype=np.float64) for g in part] for part in grads]
    return np.asarray(pred, dtype=np.float64), float(loss), dense[0], dense[1]


def run_steps(student, rng, rows, rates):
    x, y = ordered_pairs(n_values=12, rows=rows, seed=int(rng.integers(1_000, 1_000_000)))
    start = fresh_start(rng)
    out = student.ask(STEP_PROBE, f"one JointModel training step on the grader's batch of {rows} rows",
                      a=x["a"], b=x["b"], y=y, wide=start[0], deep=start[1], rates=np.asarray(rates))
    return out, start, reference_step(start, x, y)


ORDER_HINT = ("apply self.wide_optimizer to the wide branch's trainable_variables and self.deep_optimizer "
              "to the deep branch's; one optimizer for both branches, or the two swapped, moves the wrong weights.")


def check_joint_model(student, rng):
    wide_lr, deep_lr = (float(v) for v in rng.uniform(0.1, 1.0, 2))
    rates = [(0.0, 0.5), (0.5, 0.0), (wide_lr, deep_lr)]
    out, start, (pred, _, wide_grads, deep_grads) = run_steps(student, rng, 64, rates)
    check_close(np.asarray(out["output"]).reshape(64, -1), pred, "JointModel's output vs sigmoid(wide logit + "
                "deep logit)", tol=1e-5)
    for run, (w_lr, d_lr) in enumerate(rates):
        for branch, begin, grads, lr in (("wide", start[0], wide_grads, w_lr), ("deep", start[1], deep_grads, d_lr)):
            after = out[f"{branch}{run}"]
            assert len(after) == len(begin), f"the {branch} branch should keep its {len(begin)} weights."
            for i, (w0, g, w1) in enumerate(zip(begin, grads, after)):
                check_close(w1, w0 - lr * g, f"{branch} weight {i} after one step with a wide learning rate of "
                            f"{w_lr:.2f} and a deep one of {d_lr:.2f} (its value minus its own learning rate x the "
                            f"joint loss gradient)\nHint: {ORDER_HINT}", tol=1e-4)
        iterations = tuple(int(v) for v in out[f"iterations{run}"])
        assert iterations == (1, 1), f"each optimizer should have stepped once, but their iterations are {iterations}."


def check_grad_norms(student, rng):
    for rows in (64, 96):
        wide_lr, deep_lr = (float(v) for v in rng.uniform(0.05, 2.0, 2))
        out, _, (_, loss, wide_grads, deep_grads) = run_steps(student, rng, rows, [(wide_lr, deep_lr)])
        keys = set(np.asarray(out["keys0"]).tolist())
        missing = {"loss", "wide_grad_norm", "deep_grad_norm"} - keys
        assert not missing, (
            f"JointModel's train_step should return the keys loss, wide_grad_norm and deep_grad_norm, but "
            f"{sorted(missing)} are missing (it returned {sorted(keys)}).\n"
            'Hint: return {"loss": loss, "wide_grad_norm": ..., "deep_grad_norm": ...}.')
        wide_seen, deep_seen, loss_seen = (check_number(out[f"{key}0"], f"the {key} train_step returned")
                                           for key in ("wide_grad_norm", "deep_grad_norm", "loss"))
        wide_true = float(np.sqrt(sum(np.sum(g ** 2) for g in wide_grads)))
        deep_true = float(np.sqrt(sum(np.sum(g ** 2) for g in deep_grads)))
        close = lambda a, b: abs(a - b) <= 1e-4 * max(1.0, abs(b))  # noqa: E731
        if not (close(wide_seen, wide_true) and close(deep_seen, deep_true)):
            if close(wide_seen, deep_true) and close(deep_seen, wide_true):
                hint = "the two look swapped: wide_grad_norm must be the norm of the wide branch's gradients."
            else:
                hint = ("take the norm of the gradients the tape returns (not of the weights or of the step), over "
                        "all of the branch's variables together, with a square root; make each gradient dense first "
                        "(tf.convert_to_tensor) so that an embedding row looked up twice is counted once, its two "
                        "slices added up.")
            raise AssertionError(
                f"[wide_grad_norm, deep_grad_norm] on a batch of {rows} rows should be [{wide_true:.5f}, "
                f"{deep_true:.5f}] (the norm of each branch's gradient of the joint loss), but train_step reported "
                f"[{wide_seen:.5f}, {deep_seen:.5f}].\nHint: {hint}")
        assert abs(loss_seen - loss) <= 1e-4, (
            f"the loss train_step reports should be the joint loss of the batch, {loss:.5f}, but it is {loss_seen:.5f}.")


TASKS = [
    Task("a03_test_joint", "joint_probability", check_joint),
    Task("a03_test_joint_model", "JointModel", check_joint_model, own_work=("a03_joint_model",)),
    Task("a03_test_grad_norms", "JointModel's gradient norms", check_grad_norms, own_work=("a03_joint_model",)),
]
