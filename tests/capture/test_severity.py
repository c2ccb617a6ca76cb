"""Warning or note, on small realistic training code: each seeded bug warns, each correct idiom is silent."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from gradviz.capture.ledgerbook import LedgerBook
from gradviz.capture.session import Tracer
from gradviz.capture.severity import Judge
from gradviz.model import Finding


def warnings_of(tracer: Tracer) -> list[Finding]:
    return [finding for finding in tracer.findings if finding.severity == "warning"]


def notes_of(tracer: Tracer, kind: str) -> list[Finding]:
    return [f for f in tracer.findings if f.severity == "note" and f.kind == kind]


class Mlp(nn.Module):
    """A model written with functional ops, as evaluation loops in real code call it."""

    def __init__(self) -> None:
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(4, 8) * 0.1)
        self.w2 = nn.Parameter(torch.randn(8, 3) * 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = torch.relu(torch.mm(x, self.w1))
        return torch.mm(hidden, self.w2)


# ----- no_grad ---------------------------------------------------------------------------------------


def test_an_evaluation_loop_under_no_grad_is_one_note_at_the_with_line() -> None:
    torch.manual_seed(0)
    model = Mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with Tracer() as tracer:
        for _ in range(2):
            opt.zero_grad()
            F.cross_entropy(model(torch.randn(5, 4)), torch.randint(0, 3, (5,))).backward()
            opt.step()
        with torch.no_grad():
            for _ in range(3):
                accuracy = (model(torch.randn(5, 4)).argmax(1) == torch.randint(0, 3, (5,))).float().mean()

    assert 0.0 <= float(accuracy) <= 1.0
    assert warnings_of(tracer) == []
    (note,) = [f for f in tracer.findings if f.kind == "no_grad"]
    assert note.severity == "note"
    assert note.location is not None and note.location.code == "with torch.no_grad():"
    assert "6 ops on tensors that require grad" in note.message  # two mm per forward, three batches


def test_a_decorated_evaluation_function_is_one_note_at_its_call_line() -> None:
    torch.manual_seed(0)
    model = Mlp()

    @torch.no_grad()
    def evaluate(x: torch.Tensor) -> torch.Tensor:
        return model(x).argmax(1)

    with Tracer() as tracer:
        evaluate(torch.randn(2, 4))

    (note,) = [f for f in tracer.findings if f.kind == "no_grad"]
    assert note.severity == "note"
    assert note.location is not None and note.location.code == "evaluate(torch.randn(2, 4))"


def predict(model: nn.Module, batches: list[torch.Tensor]) -> list[torch.Tensor]:
    with torch.inference_mode():
        return [model(batch).argmax(1) for batch in batches]


def test_an_inference_mode_block_is_one_note_at_its_with_line() -> None:
    model = Mlp()
    with Tracer() as tracer:
        predict(model, [torch.randn(2, 4), torch.randn(3, 4)])

    (note,) = [f for f in tracer.findings if f.kind == "no_grad"]
    assert note.severity == "note" and "torch.inference_mode()" in note.message
    assert note.location is not None and note.location.code == "with torch.inference_mode():"


def test_a_frozen_feature_extractor_under_no_grad_is_a_note_when_the_optimizer_trains_only_the_head() -> None:
    torch.manual_seed(0)
    backbone, head = nn.Linear(4, 6), nn.Linear(6, 2)
    opt = torch.optim.SGD(head.parameters(), lr=0.1)
    with Tracer() as tracer:
        for _ in range(2):
            with torch.no_grad():
                features = backbone(torch.randn(3, 4))
            opt.zero_grad()
            head(features).pow(2).mean().backward()
            opt.step()

    assert backbone.weight.grad is None
    assert warnings_of(tracer) == []
    assert len(notes_of(tracer, "no_grad")) == 1


def test_no_grad_features_that_leave_trained_parameters_without_gradient_warn() -> None:
    # Given: the optimizer trains the whole model, but the encoder runs under no_grad (a real bug)
    torch.manual_seed(0)
    model = nn.ModuleDict({"encoder": nn.Linear(4, 6), "head": nn.Linear(6, 2)})
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with Tracer() as tracer:
        for _ in range(2):
            with torch.no_grad():
                features = model["encoder"](torch.randn(3, 4))
            opt.zero_grad()
            loss = model["head"](features).pow(2).mean()
            loss.backward()
            opt.step()

    (warning,) = warnings_of(tracer)
    assert warning.kind == "no_grad"
    assert warning.location is not None and warning.location.code == "with torch.no_grad():"
    assert "model.encoder.weight" in warning.message and "model.encoder.bias" in warning.message
    assert "never train" in warning.message and "loss.backward()" in warning.message


def test_a_block_unfrozen_into_the_optimizer_but_still_run_under_no_grad_warns() -> None:
    # Given: fine-tuning that unfreezes a block after the first epoch and adds it to the optimizer with
    # add_param_group, but keeps the backbone's forward under no_grad from the frozen phase (a real bug)
    torch.manual_seed(0)
    backbone, head = nn.Linear(4, 6), nn.Linear(6, 2)
    backbone.requires_grad_(False)
    opt = torch.optim.SGD(head.parameters(), lr=0.1)
    with Tracer() as tracer:
        for epoch in range(2):
            if epoch == 1:
                backbone.requires_grad_(True)
                opt.add_param_group({"params": backbone.parameters(), "lr": 0.01})
            for _ in range(2):
                with torch.no_grad():
                    features = backbone(torch.randn(3, 4))
                opt.zero_grad()
                loss = head(features).pow(2).mean()
                loss.backward()
                opt.step()

    # Then: the block the optimizer now holds never got a gradient, and the no_grad block is blamed
    assert backbone.weight.grad is None and len(opt.param_groups) == 2
    (warning,) = warnings_of(tracer)
    assert warning.kind == "no_grad"
    assert "backbone.weight" in warning.message and "never train" in warning.message


def test_a_block_unfrozen_into_the_optimizer_and_run_with_grad_is_a_note() -> None:
    # Given: the same unfreezing, done right: the no_grad block ends when the block is unfrozen
    torch.manual_seed(0)
    backbone, head = nn.Linear(4, 6), nn.Linear(6, 2)
    opt = torch.optim.SGD(head.parameters(), lr=0.1)
    with Tracer() as tracer:
        for epoch in range(2):
            if epoch == 1:
                opt.add_param_group({"params": backbone.parameters(), "lr": 0.01})
            for _ in range(2):
                with torch.set_grad_enabled(epoch == 1):
                    features = backbone(torch.randn(3, 4))
                opt.zero_grad()
                head(features).pow(2).mean().backward()
                opt.step()

    assert backbone.weight.grad is not None
    assert warnings_of(tracer) == []
    assert len(notes_of(tracer, "no_grad")) == 1


def test_a_dqn_target_network_under_no_grad_is_a_note() -> None:
    # Given: the target network is a copy the optimizer does not hold; its output feeds the loss
    torch.manual_seed(0)
    policy, target = nn.Linear(4, 2), nn.Linear(4, 2)
    target.load_state_dict(policy.state_dict())
    opt = torch.optim.Adam(policy.parameters(), lr=1e-3)
    with Tracer() as tracer:
        for _ in range(3):
            state, next_state, reward = torch.randn(8, 4), torch.randn(8, 4), torch.randn(8)
            with torch.no_grad():
                expected = reward + 0.99 * target(next_state).max(1).values
            q = policy(state).max(1).values
            loss = F.smooth_l1_loss(q, expected)
            opt.zero_grad()
            loss.backward()
            opt.step()

    assert warnings_of(tracer) == []
    assert len(notes_of(tracer, "no_grad")) == 1


# ----- detach ----------------------------------------------------------------------------------------


def test_gan_training_with_fake_detach_is_silent() -> None:
    torch.manual_seed(0)
    gen = nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 4), nn.Tanh())
    disc = nn.Sequential(nn.Linear(4, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1), nn.Sigmoid())
    opt_g = torch.optim.Adam(gen.parameters(), lr=1e-3)
    opt_d = torch.optim.Adam(disc.parameters(), lr=1e-3)
    with Tracer(max_backward=None) as tracer:
        for _ in range(3):
            real, noise = torch.randn(6, 4), torch.randn(6, 2)
            disc.zero_grad()
            err_real = F.binary_cross_entropy(disc(real), torch.ones(6, 1))
            err_real.backward()
            fake = gen(noise)
            err_fake = F.binary_cross_entropy(disc(fake.detach()), torch.zeros(6, 1))
            err_fake.backward()
            opt_d.step()
            gen.zero_grad()
            err_g = F.binary_cross_entropy(disc(fake), torch.ones(6, 1))
            err_g.backward()  # also adds into disc's .grad, zeroed before disc's next step
            opt_g.step()

    assert warnings_of(tracer) == []
    (detach,) = notes_of(tracer, "detach")
    assert detach.label == "fake.detach()" and detach.count == 3


def test_truncated_bptt_hidden_detach_is_silent() -> None:
    torch.manual_seed(0)
    rnn, decoder = nn.GRU(3, 5), nn.Linear(5, 3)
    params = [*rnn.parameters(), *decoder.parameters()]
    opt = torch.optim.SGD(params, lr=0.1)
    hidden = torch.zeros(1, 2, 5)
    with Tracer() as tracer:
        for _ in range(4):
            hidden = hidden.detach()
            output, hidden = rnn(torch.randn(4, 2, 3), hidden)
            opt.zero_grad()
            decoder(output).pow(2).mean().backward()
            torch.nn.utils.clip_grad_norm_(params, 0.5)
            opt.step()

    assert warnings_of(tracer) == []
    assert [f.kind for f in tracer.findings] == ["detach"]


def train_with_a_cut_encoder() -> torch.Tensor | None:
    encoder, head = nn.Linear(4, 6), nn.Linear(6, 1)
    opt = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=1e-3)
    for _ in range(2):
        opt.zero_grad()
        code = encoder(torch.randn(3, 4)).detach()
        loss = head(code).pow(2).mean()
        loss.backward()
        opt.step()
    return encoder.weight.grad


def test_a_detach_that_cuts_the_encoder_from_the_loss_warns_and_names_its_parameters() -> None:
    # Given: the model lives in a function, gone by the time the findings are read
    torch.manual_seed(0)
    with Tracer() as tracer:
        encoder_grad = train_with_a_cut_encoder()

    (warning,) = warnings_of(tracer)
    assert (warning.kind, warning.label) == ("detach", "code")
    assert warning.location is not None
    assert warning.location.code == "code = encoder(torch.randn(3, 4)).detach()"
    assert "encoder.weight" in warning.message and "encoder.bias" in warning.message
    assert encoder_grad is None  # torch agrees: the encoder never received a gradient


@pytest.mark.filterwarnings("ignore:Anomaly Detection has been enabled", "ignore:Error detected in")
def test_a_detach_feeding_only_backward_calls_that_failed_is_a_note() -> None:
    # Given: a loss with a meant detach (the value minus itself, detached) whose backward fails every
    # time in anomaly mode (a NaN gradient), the error caught by the script
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    errors = []
    with Tracer() as tracer, torch.autograd.detect_anomaly(check_nan=True):
        for _ in range(2):
            out = model(torch.randn(8, 4))
            loss = torch.sqrt(out - out.detach() - 1e-3).sum()
            try:
                loss.backward()
            except RuntimeError as error:
                errors.append(str(error))

    # Then: the parameters got no gradient because backward failed, not because of the detach
    assert len(errors) == 2 and model.weight.grad is None
    assert all(call.error is not None for call in tracer.backwards)
    assert warnings_of(tracer) == []
    assert len(notes_of(tracer, "detach")) == 1


def test_a_detach_for_plotting_or_logging_is_a_note() -> None:
    model = nn.Linear(2, 1)
    with Tracer() as tracer:
        prediction = model(torch.randn(4, 2))
        shown = prediction.detach().squeeze(1).tolist()
        prediction.pow(2).mean().backward()

    assert len(shown) == 4
    assert warnings_of(tracer) == []
    assert len(notes_of(tracer, "detach")) == 1


# ----- accumulation ----------------------------------------------------------------------------------


def _train(*, zero: bool, accumulate: int, iterations: int, max_backward: int | None) -> Tracer:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    with Tracer(max_backward=max_backward) as tracer:
        for step in range(iterations):
            loss = model(torch.randn(5, 3)).pow(2).mean() / accumulate
            loss.backward()
            if (step + 1) % accumulate == 0:
                opt.step()
                if zero:
                    opt.zero_grad()
    return tracer


def test_gradient_accumulation_over_several_backward_calls_is_silent() -> None:
    tracer = _train(zero=True, accumulate=4, iterations=12, max_backward=3)

    assert warnings_of(tracer) == []
    (note,) = notes_of(tracer, "accumulation")
    assert note.call == 2 and "gradient accumulation" in note.message


def test_a_forgotten_zero_grad_warns_at_the_step_that_used_the_old_gradients() -> None:
    tracer = _train(zero=False, accumulate=1, iterations=3, max_backward=None)

    (found,) = warnings_of(tracer)
    assert (found.kind, found.count) == ("accumulation", 4)
    names = ["model.0.weight", "model.0.bias", "model.2.weight", "model.2.bias"]
    assert all(f"{name}.grad" in found.message for name in names)
    assert found.location is not None and found.location.code == "opt.step()"
    assert "never zeroed between two updates" in found.message and "backward call 2" in found.message


def test_a_forgotten_zero_grad_warns_after_the_capture_budget_too() -> None:
    tracer = _train(zero=False, accumulate=1, iterations=6, max_backward=1)

    assert tracer.backward_calls == 6 and len(tracer.backwards) == 1
    (found,) = warnings_of(tracer)
    assert (found.kind, found.count) == ("accumulation", 4) and "backward call 2" in found.message


def test_a_fault_in_the_ledgers_step_bookkeeping_leaves_the_forgotten_zero_grad_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given: the ledger and the Judge share one optimizer post-hook, and the ledger's part of it fails
    def broken(self: LedgerBook, frame: object = None) -> None:
        raise RuntimeError("ledger fault")

    monkeypatch.setattr(LedgerBook, "step_done", broken)
    # When: a loop that never zeroes .grad runs past the budget
    tracer = _train(zero=False, accumulate=1, iterations=6, max_backward=1)
    # Then: the Judge still sees the step that used old gradients, and the fault is one capture problem
    (found,) = warnings_of(tracer)
    assert (found.kind, found.count) == ("accumulation", 4) and "backward call 2" in found.message
    assert found.location is not None and found.location.code == "opt.step()"
    problems = [f.message for f in tracer.findings if f.kind == "capture_problem"]
    assert len(problems) == 1 and "ledger fault" in problems[0]


def test_a_fault_in_the_judges_step_hook_leaves_the_ledgers_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given: the Judge's part of the shared optimizer post-hook fails
    def broken(self: Judge, optimizer: torch.optim.Optimizer) -> None:
        raise RuntimeError("judge fault")

    monkeypatch.setattr(Judge, "_stepped", broken)
    # When: a loop that never zeroes .grad runs past the budget
    tracer = _train(zero=False, accumulate=1, iterations=6, max_backward=1)
    # Then: the fault is one capture problem, and the ledger still has every step's update, at its line
    problems = [f.message for f in tracer.findings if f.kind == "capture_problem"]
    assert len(problems) == 1 and problems[0].startswith("severity: RuntimeError: judge fault")
    updates = [e for e in tracer.result().ledger if e.kind == "update" and e.how == "opt.step()"]
    assert sorted({e.call for e in updates}) == [1, 2, 3, 4, 5, 6]
    assert all(e.location is not None and e.location.code == "opt.step()" for e in updates)


def test_a_forgotten_zero_grad_with_a_manual_data_update_warns() -> None:
    # Given: the update goes through .data, which bumps no version counter
    torch.manual_seed(0)
    w = torch.randn(3, requires_grad=True)
    with Tracer(max_backward=2) as tracer:
        for _ in range(4):
            (w * torch.randn(3)).sum().pow(2).backward()
            w.data -= 0.1 * w.grad

    (warning,) = warnings_of(tracer)
    assert (warning.kind, warning.label) == ("accumulation", "w")
    assert "without an optimizer.step()" in warning.message and "zero .grad once per step" in warning.message


def test_a_teacher_run_outside_no_grad_and_updated_by_ema_warns_without_blaming_a_backward_call() -> None:
    # Given: a mean teacher whose forward is outside no_grad, so the student's loss reaches its parameters,
    # and whose EMA update (under no_grad, no optimizer) changes them between backward calls
    torch.manual_seed(0)
    student, teacher = nn.Linear(4, 3), nn.Linear(4, 3)
    teacher.load_state_dict(student.state_dict())
    opt = torch.optim.SGD(student.parameters(), lr=0.1)
    with Tracer(max_backward=2) as tracer:
        for _ in range(4):
            x = torch.randn(8, 4)
            loss = F.mse_loss(student(x).softmax(1), teacher(x).softmax(1)) + student(x).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                for t, s in zip(teacher.parameters(), student.parameters(), strict=True):
                    t.mul_(0.9).add_(s, alpha=0.1)

    # Then: PyTorch filled the teacher's .grad, and the one warning names it, says the update was not an
    # optimizer step, and points at the teacher's forward
    assert teacher.weight.grad is not None and student.weight.grad is not None
    (warning,) = warnings_of(tracer)
    assert warning.kind == "accumulation"
    assert "teacher.weight.grad" in warning.message and "student.weight" not in warning.message
    assert "without an optimizer.step()" in warning.message and "torch.no_grad()" in warning.message
    assert "when backward call" not in warning.message


def test_zeroing_by_hand_each_step_is_silent() -> None:
    torch.manual_seed(0)
    w = torch.randn(3, requires_grad=True)
    with Tracer(max_backward=2) as tracer:
        for _ in range(4):
            (w * torch.randn(3)).sum().pow(2).backward()
            with torch.no_grad():
                w -= 0.1 * w.grad
            w.grad.zero_()

    assert tracer.findings == ()


# ----- .data edits -----------------------------------------------------------------------------------


def test_a_harmful_data_edit_warns() -> None:
    with Tracer() as tracer:
        w = torch.tensor([2.0, 3.0], requires_grad=True)
        y = (w * w).sum()
        w.data *= 10
        y.backward()

    assert w.grad is not None and w.grad.tolist() == [40.0, 60.0]  # torch used the edited w
    (warning,) = warnings_of(tracer)
    assert (warning.kind, warning.label) == ("data_edit", "w")


def test_weight_clipping_between_forward_and_backward_is_one_warning_naming_the_weight() -> None:
    # Given: WGAN-style clipping through .data after the loss was computed, in a loop; Linear saves w.t()
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(0.2), nn.Linear(4, 1))
    with Tracer(max_backward=None) as tracer:
        for _ in range(3):
            critic.zero_grad()
            loss = critic(torch.randn(5, 3)).mean()
            for p in critic.parameters():
                p.data.clamp_(-0.05, 0.05)
            loss.backward()

    (warning,) = warnings_of(tracer)
    assert (warning.kind, warning.label) == ("data_edit", "critic.2.weight")
    assert warning.location is not None and warning.location.code == "p.data.clamp_(-0.05, 0.05)"


def test_in_the_drawing_only_the_overlay_of_the_edited_tensor_backward_read_is_a_warning() -> None:
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(0.2), nn.Linear(4, 1))
    with Tracer() as tracer:
        loss = critic(torch.randn(5, 3)).mean()
        for p in critic.parameters():
            p.data.clamp_(-0.05, 0.05)
        loss.backward()

    (call,) = tracer.result().backwards
    severities = {
        overlay.label: overlay.severity for overlay in call.graph.overlays if overlay.kind == "data_edit"
    }
    # the last layer's weight is read by backward (d loss / d hidden); the biases and the first weight are not
    assert severities == {
        "critic.0.weight": "note",
        "critic.0.bias": "note",
        "critic.2.weight": "warning",
        "critic.2.bias": "note",
    }
