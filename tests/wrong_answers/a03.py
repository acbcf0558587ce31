"""Wrong submissions of a03_wide_and_deep (joint probability, two-optimizer JointModel, its gradient norms)."""

from tests.wrong_answers import Wrong

_MODEL = '''
class JointModel({base}):
    def __init__(self, wide, deep, wide_optimizer, deep_optimizer, **kwargs):
        super().__init__(**kwargs)
        self.wide, self.deep = wide, deep
        self.wide_optimizer, self.deep_optimizer = wide_optimizer, deep_optimizer

    def call(self, inputs, training=False):
        {call}

    def train_step(self, data):
        x, y = data
        with tf.GradientTape(persistent=True) as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, training=True)
        wide_vars, deep_vars = self.wide.trainable_variables, self.deep.trainable_variables
        {step}
        return {{"loss": loss, "wide_grad_norm": {wide_norm}, "deep_grad_norm": {deep_norm}}}


def grad_norm(grads):
    return ops.sqrt(ops.sum(ops.stack([ops.sum(ops.square(tf.convert_to_tensor(g))) for g in grads])))
'''
_CALL = "return ops.sigmoid(self.wide(inputs, training=training) + self.deep(inputs, training=training))"
_STEP = ("wide_grads, deep_grads = tape.gradient(loss, [wide_vars, deep_vars])\n"
         "        self.wide_optimizer.apply(wide_grads, wide_vars)\n"
         "        self.deep_optimizer.apply(deep_grads, deep_vars)")
_NORMS = {"wide_norm": "grad_norm(wide_grads)", "deep_norm": "grad_norm(deep_grads)"}


def _model(base="keras.Model", call=_CALL, step=_STEP, **norms):
    return _MODEL.format(base=base, call=call, step=step, **{**_NORMS, **norms})


_ZERO_NORMS = {"wide_norm": "0.0", "deep_norm": "0.0"}

WRONG = [
    # Task 1: the joint probability.
    Wrong("joint_exp_ratio_overflows", "a03_joint", "a03_test_joint", '''
def joint_probability(wide_logit, deep_logit):
    odds = np.exp(np.asarray(wide_logit, dtype=float) + np.asarray(deep_logit, dtype=float))
    return odds / (1 + odds)
'''),
    Wrong("joint_wide_only", "a03_joint", "a03_test_joint", '''
def joint_probability(wide_logit, deep_logit):
    return 0.5 * (1 + np.tanh(0.5 * np.asarray(wide_logit, dtype=float)))
'''),
    Wrong("joint_mean_of_sigmoids", "a03_joint", "a03_test_joint", '''
def joint_probability(wide_logit, deep_logit):
    sigmoid = lambda z: 0.5 * (1 + np.tanh(0.5 * np.asarray(z, dtype=float)))
    return (sigmoid(wide_logit) + sigmoid(deep_logit)) / 2
'''),
    Wrong("joint_hardcoded", "a03_joint", "a03_test_joint", '''
def joint_probability(wide_logit, deep_logit):
    if len(wide_logit) == 3:
        return np.array([0.5, 0.8808, 0.1824])
    return np.where(np.asarray(wide_logit) + np.asarray(deep_logit) > 0, 1.0, 0.0)
'''),
    # Task 2a: each optimizer steps its own branch, along the joint loss.
    Wrong("model_one_optimizer", "a03_joint_model", "a03_test_joint_model", _model(step=(
        "grads = tape.gradient(loss, wide_vars + deep_vars)\n"
        "        wide_grads, deep_grads = grads[:len(wide_vars)], grads[len(wide_vars):]\n"
        "        self.deep_optimizer.apply(grads, wide_vars + deep_vars)"))),
    Wrong("model_optimizers_swapped", "a03_joint_model", "a03_test_joint_model", _model(step=(
        "wide_grads, deep_grads = tape.gradient(loss, [wide_vars, deep_vars])\n"
        "        self.deep_optimizer.apply(wide_grads, wide_vars)\n"
        "        self.wide_optimizer.apply(deep_grads, deep_vars)"))),
    Wrong("model_missing_deep_branch", "a03_joint_model", "a03_test_joint_model", _model(
        call="return ops.sigmoid(self.wide(inputs, training=training))",
        step=("wide_grads = tape.gradient(loss, wide_vars)\n"
              "        self.wide_optimizer.apply(wide_grads, wide_vars)"), deep_norm="0.0")),
    Wrong("model_no_update", "a03_joint_model", "a03_test_joint_model", _model(
        step="wide_grads, deep_grads = tape.gradient(loss, [wide_vars, deep_vars])")),
    Wrong("model_separate_branch_losses", "a03_joint_model", "a03_test_joint_model", _model(step=(
        "with tf.GradientTape(persistent=True) as branch_tape:\n"
        "            wide_loss = self.compute_loss(x=x, y=y, y_pred=ops.sigmoid(self.wide(x)), training=True)\n"
        "            deep_loss = self.compute_loss(x=x, y=y, y_pred=ops.sigmoid(self.deep(x)), training=True)\n"
        "        wide_grads = branch_tape.gradient(wide_loss, wide_vars)\n"
        "        deep_grads = branch_tape.gradient(deep_loss, deep_vars)\n"
        "        self.wide_optimizer.apply(wide_grads, wide_vars)\n"
        "        self.deep_optimizer.apply(deep_grads, deep_vars)"))),
    Wrong("model_library_subclass", "a03_joint_model", "a03_test_joint_model", '''
from course_lib.models import WideDeep


class JointModel(WideDeep):
    def __init__(self, wide, deep, wide_optimizer, deep_optimizer, **kwargs):
        super().__init__(wide=wide, deep=deep, wide_optimizer=wide_optimizer, **kwargs)
        self.deep_optimizer = deep_optimizer
'''),
    Wrong("model_library_train_step", "a03_joint_model", "a03_test_joint_model", '''
from course_lib.models import WideDeep


class JointModel(keras.Model):
    def __init__(self, wide, deep, wide_optimizer, deep_optimizer, **kwargs):
        super().__init__(**kwargs)
        self.wide, self.deep = wide, deep
        self.wide_optimizer, self.deep_optimizer = wide_optimizer, deep_optimizer

    def call(self, inputs, training=False):
        return WideDeep.call(self, inputs, training=training)

    def train_step(self, data):
        self.optimizer = self.deep_optimizer
        return WideDeep.train_step(self, data)
'''),
    # Task 2b: the gradient norms the step reports (the two optimizers are right in each).
    Wrong("norms_swapped", "a03_joint_model", "a03_test_grad_norms",
          _model(wide_norm="grad_norm(deep_grads)", deep_norm="grad_norm(wide_grads)")),
    Wrong("norms_of_both_branches", "a03_joint_model", "a03_test_grad_norms",
          _model(wide_norm="grad_norm(wide_grads + deep_grads)", deep_norm="grad_norm(wide_grads + deep_grads)")),
    Wrong("norms_of_row_slices", "a03_joint_model", "a03_test_grad_norms",
          _model(wide_norm="tf.linalg.global_norm(wide_grads)", deep_norm="tf.linalg.global_norm(deep_grads)")),
    Wrong("norms_squared", "a03_joint_model", "a03_test_grad_norms",
          _model(wide_norm="grad_norm(wide_grads) ** 2", deep_norm="grad_norm(deep_grads) ** 2")),
    Wrong("norms_of_the_step", "a03_joint_model", "a03_test_grad_norms", _model(
        wide_norm="self.wide_optimizer.learning_rate * grad_norm(wide_grads)",
        deep_norm="self.deep_optimizer.learning_rate * grad_norm(deep_grads)")),
    Wrong("norms_of_the_weights", "a03_joint_model", "a03_test_grad_norms",
          _model(wide_norm="grad_norm(wide_vars)", deep_norm="grad_norm(deep_vars)")),
    Wrong("norms_not_reported", "a03_joint_model", "a03_test_grad_norms",
          _model().replace(', "wide_grad_norm": grad_norm(wide_grads), "deep_grad_norm": grad_norm(deep_grads)', "")),
    Wrong("norms_hardcoded", "a03_joint_model", "a03_test_grad_norms",
          _model(wide_norm="0.06412", deep_norm="0.09909")),
]
