"""fastnn train --config / --print-config / --resume, fastnn evaluate and fastnn plot."""
import json
import re

import numpy as np
import pytest

import fastnn as fnn
from fastnn.cli import main
from fastnn.cli.experiment import SCHEMA

EXPERIMENT = """
output = "{out}"
[data]
train = "embedded"
test_fraction = 0.2
[validation]
split = 0.1
[model]
preprocess = "standard"
layers = [{{class = "Dense", units = 24, l2 = 1e-4, init = "he_uniform"}}, {{class = "BatchNorm"}},
          {{class = "ReLU"}}, {{class = "Dropout", p = 0.1}}]
[loss]
label_smoothing = 0.05
[optimizer]
class = "Adam"
betas = [0.85, 0.99]
weight_decay = 1e-5
[schedule]
class = "Warmup"
warmup_steps = 10
schedule = {{class = "Cosine", total_steps = 120}}
[clip]
class = "ByGlobalNorm"
max_norm = 5.0
[augment]
transforms = [{{class = "RandomShift", max_shift = 1}}, {{class = "GaussianNoise", std = 0.05}}]
[train]
epochs = 2
batch_size = 64
seed = 5
threads = 1
verbose = 0
metrics = ["accuracy", "f1"]
[[callbacks]]
class = "EarlyStopping"
patience = 3
[[callbacks]]
class = "CSVLogger"
filename = "{csv}"
"""


def arrays(path):
    return fnn.load(path).state_arrays()


def assert_same_model(a, b):
    A, B = arrays(a), arrays(b)
    assert A.keys() == B.keys()
    for k in A:
        assert A[k].tobytes() == B[k].tobytes(), k


def test_print_config_repeats_the_run_bitwise(tmp_path, capsys):
    config = tmp_path / "exp.toml"
    config.write_text(EXPERIMENT.format(out=tmp_path / "a.safetensors", csv=tmp_path / "h.csv"))
    flags = ["--lr", "0.02", "--set", "train.drop_last=true"]  # flags override config keys
    assert main(["train", "--config", str(config), *flags, "--print-config"]) == 0
    printed = capsys.readouterr().out
    effective = json.loads(printed)
    assert effective["optimizer"]["lr"] == 0.02 and effective["train"]["drop_last"] is True
    assert effective["optimizer"]["betas"] == [0.85, 0.99] and effective["optimizer"]["eps"] == 1e-8  # defaults
    assert effective["schedule"]["schedule"]["lr"] == 0.02  # the schedule's lr left out: the optimizer's
    assert effective["augment"]["image_shape"] == [8, 8]  # the embedded digits' shape
    assert not (tmp_path / "a.safetensors").exists()  # printing trains nothing
    assert main(["train", "--config", str(config), *flags]) == 0
    (tmp_path / "printed.json").write_text(printed)
    assert main(["train", "--config", str(tmp_path / "printed.json"), "-o", str(tmp_path / "b.safetensors")]) == 0
    assert_same_model(tmp_path / "a.safetensors", tmp_path / "b.safetensors")
    # and the printed config prints itself
    capsys.readouterr()
    assert main(["train", "--config", str(tmp_path / "printed.json"), "--print-config"]) == 0
    assert json.loads(capsys.readouterr().out) == effective


def test_the_default_config_is_the_schema(capsys):
    assert main(["train", "--print-config"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert set(config) == set(SCHEMA)
    assert config["optimizer"] == {"class": "SGD", "lr": 0.05, "momentum": 0.9, "dampening": 0.0,
                                   "weight_decay": 0.0, "nesterov": False, "prox_l1": 0.0}
    assert [layer["units"] for layer in config["model"]["layers"]] == [256, 128] and config["train"]["epochs"] == 30


# (config text, the key path the error must name[, another text it must contain])
BAD_CONFIGS = [
    ("optimiser = {}", "optimiser", "did you mean 'optimizer'"),
    ("[optimizer]\nclass = 'Adam'\nbetas = [0.9, 1.5]", "optimizer.betas[1]", "[0.0, 1.0)"),
    ("[optimizer]\nclass = 'Adamm'", "optimizer.class", "AdamW"),
    ("[optimizer]\nclass = 'SGD'\nmomentun = 0.9", "optimizer.momentun", "momentum"),
    ("[optimizer]\nlr = -1", "optimizer.lr", ">= 0"),
    ("[optimizer]\nlr = 'fast'", "optimizer.lr", "real number"),
    ("[train]\nepochs = 0", "train.epochs", ">= 1"),
    ("[train]\nepochs = 1.5", "train.epochs", "an integer"),
    ("[train]\nbatch_size = '32'", "train.batch_size", "an integer"),
    ("[train]\nmetrics = ['accuracy', 'nope']", "train.metrics", "precision"),
    ("[train]\nverbose = 3", "train.verbose", "0, 1, 2"),
    ("[train]\nthreads = 100000", "train.threads", "cores"),
    ("[train]\nseed = -1", "train.seed", "got -1"),
    ("[train]\nclass_weight = 'even'", "train.class_weight", "'balanced'"),
    ("[train]\nshuffle = 1", "train.shuffle", "true or false"),
    ("[data]\ntest_fraction = 1.0", "data.test_fraction", "[0.0, 1.0)"),
    ("[data]\ndtype = 'float16'", "data.dtype", "'float32', 'float64'"),
    ("[data]\ntrain = 'd.parquet'", "data.train", ".npz"),
    ("[data]\ntrain = 'X.npy'", "data.labels", ".npy"),
    ("[data]\ntrain = 'missing.npz'\nmmap = true", "data.mmap", ".npy"),
    ("[validation]\nsplit = 0.2\ndata = 'v.npz'", "validation", "not both"),
    ("[data]\ntest = 't.npz'", "data.test", "own test rows"),
    ("[model]\nlayers = [{class = 'Dense', units = 0}]", "model.layers[0].units", ">= 1"),
    ("[model]\nlayers = [{class = 'ReLU'}, {class = 'Dropout', p = 1.5}]", "model.layers[1].p", "p"),
    ("[model]\nlayers = [{class = 'Conv2D'}]", "model.layers[0].class", "BatchNorm"),
    ("[model]\nlayers = [{class = 'Dense'}]", "model.layers[0].units", "required"),
    ("[model]\nlayers = [{class = 'Dense', units = 4, init = 'nope'}]", "model.layers[0].init", "nope"),
    ("[model]\nhidden = [8]\nlayers = [{class = 'ReLU'}]", "model.hidden", "not both"),
    ("[model]\npreprocess = 'whiten'", "model.preprocess", "zca_whiten"),
    ("[model]\nactivation = 'swish'", "model.activation", "'relu'"),
    ("[loss]\nlabel_smoothing = 2", "loss.label_smoothing", "1.0"),
    ("[loss]\nname = 'hinge'", "loss.name", "'cross_entropy'"),
    ("[schedule]\nclass = 'Cosine'", "schedule.total_steps", "required"),
    ("[schedule]\nclass = 'Warmup'\nwarmup_steps = 0\nschedule = {class = 'Cosine', total_steps = 10}",
     "schedule.warmup_steps", ">= 1"),
    ("[schedule]\nclass = 'Warmup'\nwarmup_steps = 5\nschedule = {class = 'Cosine', total_steps = -1}",
     "schedule.schedule.total_steps", ">= 1"),
    ("[clip]\nclass = 'ByGlobalNorm'\nmax_norm = 0", "clip.max_norm", "> 0"),
    ("[[callbacks]]\nclass = 'EarlyStopping'\npatience = -1", "callbacks[0].patience", ">= 0"),
    ("[[callbacks]]\nclass = 'CSVLogger'\nfilename = '/nonexistent/h.csv'", "callbacks[0].filename", "exist"),
    # fit's own checks of these came only after the data were read (exit 1)
    ("[[callbacks]]\nclass = 'ModelCheckpoint'\nfilepath = 'm-{val_los}.fnn'", "callbacks[0].filepath", "'val_los'"),
    ("[[callbacks]]\nclass = 'ModelCheckpoint'\nfilepath = 'm.fnn'\nsave_best_only = true", "callbacks[0].monitor",
     "'val_loss'"),
    ("[[callbacks]]\nclass = 'ReduceOnPlateau'\nmonitor = 'loss'\nmin_lr = [0.1, 0.2]", "callbacks[0].min_lr",
     "1 parameter groups"),
    ("[augment]\ntransforms = [{class = 'RandomRotation', degrees = 'x'}]", "augment.transforms[0].degrees", "x"),
    ("[augment]\nfill_mode = 'wrap'", "augment.fill_mode", "wrap"),
    ("[augment]\nimage_shape = [4.5, 4]\ntransforms = [{class = 'RandomRotation', degrees = 10}]",
     "augment.image_shape[0]", "an integer"),
    ("[checkpoint]\nevery = 0", "checkpoint.every", ">= 1"),
    ("output = '/nonexistent/m.safetensors'", "output", "does not exist"),
    ("[train\nepochs = 1", "not valid TOML", "line 1"),
]


@pytest.mark.parametrize("text, key, detail", BAD_CONFIGS, ids=[c[1] for c in BAD_CONFIGS])
def test_every_config_error_names_its_key(tmp_path, capsys, text, key, detail):
    """Exit 2, one error line naming the key path and what is allowed, before any data are read: the data
    file does not exist, which would be a runtime error (1) if it were opened; nothing is written."""
    out = tmp_path / "out"
    out.mkdir()
    if "[data]" not in text and not text.startswith("[train\n"):
        text = f"output = '{out}/m.safetensors'\n" * ("output" not in text) + text
        text += f"\n[data]\ntrain = '{tmp_path}/missing.npz'\n"
    (tmp_path / "c.toml").write_text(text)
    assert main(["train", "--config", str(tmp_path / "c.toml")]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert f"{tmp_path / 'c.toml'}: {key}" in lines[0], lines[0]
    assert detail in lines[0], lines[0]
    assert list(out.iterdir()) == []


def test_json_config_and_flag_names_in_errors(tmp_path, capsys):
    (tmp_path / "c.json").write_text(json.dumps({"train": {"seed": -1}}))
    assert main(["train", "--config", str(tmp_path / "c.json")]) == 2
    assert "train.seed" in capsys.readouterr().err
    (tmp_path / "c.json").write_text(json.dumps({"optimizer": {"class": "Adam"}}))
    assert main(["train", "--config", str(tmp_path / "c.json"), "--momentum", "0.5"]) == 2
    err = capsys.readouterr().err
    assert "optimizer.momentum: unknown key" in err and "(set by --momentum)" in err
    assert main(["train", "--set", "train.epochs"]) == 2  # not KEY=VALUE
    assert main(["train", "--set", "trian.epochs=3"]) == 2
    assert "did you mean 'train'" in capsys.readouterr().err


def test_a_bad_config_key_is_blamed_on_the_flag_that_set_it_and_no_other(tmp_path, capsys):
    """The flags were matched by config section: --epochs (train.epochs) took the blame for the file's bad
    train.verbose."""
    (tmp_path / "bad.toml").write_text("[train]\nverbose = 3\n")
    assert main(["train", "--config", str(tmp_path / "bad.toml"), "--epochs", "2", "--seed", "1"]) == 2
    err = capsys.readouterr().err
    assert "train.verbose: 3 is not allowed" in err and "set by" not in err
    assert main(["train", "--config", str(tmp_path / "bad.toml"), "--set", "train.verbose=4", "--epochs", "2"]) == 2
    assert "(set by --set train.verbose)" in capsys.readouterr().err
    # an unknown key is not --quiet's (train.verbose) because the list of allowed keys names verbose
    (tmp_path / "unknown.toml").write_text("[train]\nbogus = 1\n")
    assert main(["train", "--config", str(tmp_path / "unknown.toml"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "train.bogus: unknown key" in err and "set by" not in err
    # the flag that chose an object's kind shares the blame for the keys that kind requires
    assert main(["train", "--set", "schedule.class=Cosine", "--epochs", "2"]) == 2
    err = capsys.readouterr().err
    assert "schedule.total_steps" in err and "(set by --set schedule.class)" in err


def test_memmap_npy_data_with_a_validation_split(tmp_path, capsys):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    X = (rng.standard_normal((3, 6)) * 4)[y] + rng.standard_normal((200, 6))
    np.save(tmp_path / "X.npy", X.astype(np.float32))
    np.save(tmp_path / "y.npy", y)
    (tmp_path / "c.toml").write_text(f"""output = "{tmp_path}/m.safetensors"
[data]
train = "{tmp_path}/X.npy"
labels = "{tmp_path}/y.npy"
mmap = true
test_fraction = 0
[validation]
split = 0.25
[model]
hidden = [16]
[train]
epochs = 3
verbose = 0
""")
    assert main(["train", "--config", str(tmp_path / "c.toml")]) == 0
    assert "test accuracy: not measured" in capsys.readouterr().out
    assert fnn.load(tmp_path / "m.safetensors").n_features_in == 6


def test_validation_split_holds_out_the_files_last_training_rows_whatever_the_format(tmp_path):
    """validation.split is fit's (the last rows, as Keras) on the training rows in file order: --test-fraction 0
    trains on every row as the file holds them (a memory-mapped .npy or not, .npz, .csv alike), and a test split
    leaves the others in file order (review 12: they were shuffled, so random rows were held out)."""
    from fastnn.datasets import stratified_split

    rng = np.random.default_rng(1)
    X = rng.standard_normal((60, 5))
    y = (X[:, 0] > 0).astype(np.int64)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    np.savetxt(tmp_path / "d.csv", np.column_stack([X, y]), delimiter=",", fmt="%.17g")

    def cli(data, *flags):
        out = tmp_path / f"m{len(list(tmp_path.glob('m*')))}.safetensors"
        assert main(["train", "--data", str(tmp_path / data), *flags, "--validation-split", "0.2", "--hidden", "4",
                     "--epochs", "2", "--dtype", "float64", "-q", "-o", str(out)]) == 0
        return fnn.load(out).get_weights()

    def api(rows):
        model = fnn.Sequential([fnn.layers.Dense(4, activation="relu"), fnn.layers.Dense(2)], input_dim=5, seed=0,
                               dtype="float64")
        model.fit(X[rows], y[rows], optimizer=fnn.optim.SGD(lr=0.05, momentum=0.9), epochs=2, batch_size=32, seed=0,
                  validation_split=0.2, verbose=0)
        return model.get_weights()

    def same(a, b):
        return all(np.array_equal(p, q) for p, q in zip(a, b, strict=True))

    every_row = api(slice(None))
    labels = ["--set", f"data.labels={tmp_path}/y.npy"]
    for data, flags in [("X.npy", [*labels, "--set", "data.mmap=true"]), ("X.npy", labels), ("d.npz", []),
                        ("d.csv", [])]:
        assert same(cli(data, "--test-fraction", "0", *flags), every_row), (data, flags)
    train_rows = np.sort(stratified_split(y, 0.25, 0)[0])
    assert same(cli("d.csv", "--test-fraction", "0.25"), api(train_rows))



def test_a_validation_split_that_lacks_classes_is_warned_of(tmp_path, capsys):
    """A .csv sorted by class: validation.split holds out its last training rows, of the last class alone
    (val_accuracy 0), which the run did not remark on (review 12). A shuffled file is not warned of."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 40)
    X = rng.standard_normal((120, 3)) + y[:, None]
    np.savetxt(tmp_path / "sorted.csv", np.column_stack([X, y]), delimiter=",", fmt="%.6g")
    order = rng.permutation(120)
    np.savetxt(tmp_path / "shuffled.csv", np.column_stack([X, y])[order], delimiter=",", fmt="%.6g")
    for name in ("sorted.csv", "shuffled.csv"):
        assert main(["train", "--data", str(tmp_path / name), "--test-fraction", "0.25", "--validation-split", "0.2",
                     "--epochs", "1", "-q", "-o", str(tmp_path / "m.safetensors")]) == 0
        warned = "fastnn train: warning: validation.split 0.2 holds out the last 18 training rows (the file's " \
            "order is kept), which lack 2 of the 3 classes trained on: shuffle the file's rows" in (
                capsys.readouterr().err)
        assert warned == (name == "sorted.csv")

class _Killed(KeyboardInterrupt):
    pass


def test_resume_after_a_killed_run_is_bitwise_the_uninterrupted_run(tmp_path, monkeypatch, capsys):
    from fastnn.training.checkpoint import CheckpointWriter

    def config(d):
        d.mkdir()
        text = EXPERIMENT.format(out=d / "m.safetensors", csv=d / "h.csv").replace("epochs = 2", "epochs = 3")
        (d / "c.toml").write_text(text + f'[checkpoint]\npath = "{d}/run.ckpt"\n')
        return d / "c.toml"

    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert main(["train", "--config", str(config(straight))]) == 0
    write = CheckpointWriter.write

    def write_then_die(self, *args):  # the process dies right after its first checkpoint (epoch 1)
        write(self, *args)
        raise _Killed

    monkeypatch.setattr(CheckpointWriter, "write", write_then_die)
    assert main(["train", "--config", str(config(killed))]) == 130
    monkeypatch.setattr(CheckpointWriter, "write", write)
    assert not (killed / "m.safetensors").exists()
    capsys.readouterr()
    ckpt = str(killed / "run.ckpt")
    assert main(["train", "--resume", ckpt, "--lr", "0.1"]) == 2  # would change the run
    assert "--lr would change it" in capsys.readouterr().err
    np.savez(tmp_path / "other.npz", X=np.random.default_rng(0).random((50, 64)), y=np.arange(50) % 10)
    assert main(["train", "--resume", ckpt, "--data", str(tmp_path / "other.npz")]) == 1
    assert "differs from the checkpointed run's" in capsys.readouterr().err
    assert main(["train", "--resume", ckpt]) == 0  # the data from the recorded config
    # the summary reports this process's steps (it counted the whole run's epochs over this process's time)
    # (killed after epoch 1 of 3: the two epochs left are twice the steps of the one before)
    done, more = map(int, re.search(r"resumed at step (\d+): trained (\d+) more steps in", capsys.readouterr().out)
                     .groups())
    assert done > 0 and more == 2 * done
    assert_same_model(straight / "m.safetensors", killed / "m.safetensors")
    assert (straight / "h.csv").read_text().count("\n") == (killed / "h.csv").read_text().count("\n") == 4


def test_evaluate_and_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    model, csv = tmp_path / "m.safetensors", tmp_path / "h.csv"
    (tmp_path / "c.toml").write_text(f'output = "{model}"\n[model]\nhidden = [16]\n[train]\nepochs = 2\n'
                                     f'verbose = 0\n[validation]\nsplit = 0.2\n[[callbacks]]\nclass = "CSVLogger"\n'
                                     f'filename = "{csv}"\n')
    assert main(["train", "--config", str(tmp_path / "c.toml")]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(model), "embedded", "--metrics", "accuracy,f1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    X_train, y_train, X_test, y_test = fnn.datasets.load_embedded()
    expected = fnn.load(model).evaluate(X_test, y_test, metrics=["accuracy", "f1"])
    assert result == {"samples": len(X_test), **expected}
    assert main(["evaluate", str(model), "embedded", "--metrics", "nope"]) == 2
    assert main(["evaluate", str(tmp_path / "none.safetensors"), "embedded"]) == 2
    assert main(["plot", str(csv), "-o", str(tmp_path / "h.png")]) == 0
    assert main(["plot", "--confusion", str(model), "embedded", "-o", str(tmp_path / "cm.png")]) == 0
    for png in ("h.png", "cm.png"):
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["plot", "-o", str(tmp_path / "x.png")]) == 2  # neither a history nor --confusion
    assert main(["plot", str(tmp_path / "missing.csv"), "-o", str(tmp_path / "x.png")]) == 1


def test_evaluate_splits_a_named_data_set_by_the_seed_train_split_it_with(tmp_path, capsys):
    """evaluate took seed 0 whatever train's --seed was: a model trained with --seed 3 was scored on a split whose
    test rows it had partly trained on (0.9578 against 0.9644 on its own held-out rows)."""
    from fastnn.cli import _data

    model = tmp_path / "m.safetensors"
    assert main(["train", "-q", "--seed", "3", "--epochs", "2", "--hidden", "16", "-o", str(model)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(model), "embedded", "--json"]) == 0
    default = json.loads(capsys.readouterr().out)
    _, _, X_test, y_test = _data.load("embedded", 0.25, 3, "float32", for_training=False)
    assert default == {"samples": len(X_test), **fnn.load(model).evaluate(X_test, y_test)}
    assert main(["evaluate", str(model), "embedded", "--json", "--seed", "3"]) == 0
    assert json.loads(capsys.readouterr().out) == default


@pytest.mark.parametrize("extra, ok", [([], False), (["--set", "validation.split=0.2"], True)])
def test_a_callback_monitoring_what_the_run_will_not_log_is_a_config_error(capsys, extra, ok):
    """EarlyStopping on val_loss without validation data (or on an unknown metric) passed --print-config and failed
    only after the data were loaded (fourth hostile review): now checked with the config, as fit checks it."""
    for monitor in ("val_loss", "bogus"):
        args = ["train", "--set", f'callbacks=[{{"class": "EarlyStopping", "monitor": "{monitor}"}}]', *extra,
                "--print-config"]
        expected = 0 if ok and monitor == "val_loss" else 2
        assert main(args) == expected
        err = capsys.readouterr().err
        assert expected == 0 or f"callbacks[0].monitor: EarlyStopping monitors '{monitor}'" in err
    # a ModelCheckpoint reads its monitor only with save_best_only (as its set_run checks it): a periodic save was
    # refused without validation data
    callbacks = [{"class": "ModelCheckpoint", "filepath": "m-{epoch}.fnn"}]
    assert main(["train", "--set", f"callbacks={json.dumps(callbacks)}", *extra, "--print-config"]) == 0


def test_a_test_split_without_its_pair_is_refused(tmp_path, capsys):
    X, y, _, _ = fnn.datasets.load_embedded(test_fraction=0.0)
    np.savez(tmp_path / "half.npz", X_train=X[:100], y_train=y[:100], X_test=X[100:200])
    assert main(["train", "--data", str(tmp_path / "half.npz"), "--epochs", "1", "-q", "-o",
                 str(tmp_path / "m.safetensors")]) != 0
    assert "holds X_test but not its pair" in capsys.readouterr().err
    assert not (tmp_path / "m.safetensors").exists()


def test_the_test_split_of_an_npz_of_x_y_is_used(tmp_path, capsys):
    """X, y with X_test, y_test: the test pair was dropped without a word and a 25% split of X used instead (only
    X_train, y_train picked it up). An .npz whose arrays would otherwise be dropped is refused, naming them."""
    from fastnn.cli import _data

    X, y, _, _ = fnn.datasets.load_embedded(test_fraction=0.0)
    np.savez(tmp_path / "d.npz", X=X[:100], y=y[:100], X_test=X[100:130], y_test=y[100:130])
    X_train, y_train, X_test, y_test = _data.load(str(tmp_path / "d.npz"), 0.25, 0, "float64")
    assert np.array_equal(X_train, X[:100]) and np.array_equal(y_train, y[:100])
    assert np.array_equal(X_test, X[100:130]) and np.array_equal(y_test, y[100:130])
    model = tmp_path / "m.safetensors"
    assert main(["train", "--epochs", "1", "--hidden", "8", "-q", "-o", str(model)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(model), str(tmp_path / "d.npz"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["samples"] == 30

    np.savez(tmp_path / "both.npz", X=X[:100], y=y[:100], X_train=X[:50], y_train=y[:50])
    np.savez(tmp_path / "half.npz", X=X[:100], y=y[:100], X_train=X[:50])
    np.savez(tmp_path / "train.npz", X=X[:100], y=y[:100])
    for name, says in (("both", "both X_train, y_train and X, y: which are the training rows?"),
                       ("half", "holds X_train but not its pair y_train")):
        assert main(["train", "--data", str(tmp_path / f"{name}.npz"), "--epochs", "1", "-q"]) == 1
        assert says in capsys.readouterr().err
    for key in ("data.test", "validation.data"):  # rows read whole: which pair would they be?
        assert main(["train", "--data", str(tmp_path / "train.npz"), "--set", f"{key}={tmp_path / 'd.npz'}",
                     "--epochs", "1", "-q", "-o", str(model)]) == 1
        assert "holds a test split (X_test, y_test) besides its rows" in capsys.readouterr().err


def test_an_npz_array_that_would_not_be_read_is_refused_and_evaluate_reads_a_test_pair_alone(tmp_path, capsys):
    """An .npz with X_val, y_val beside X, y trained without its validation rows, without a word: every command
    now refuses arrays it does not read, naming them. evaluate refused an .npz of only X_test, y_test (the file
    its help describes); it now scores those rows."""
    X, y, _, _ = fnn.datasets.load_embedded(test_fraction=0.0)
    np.savez(tmp_path / "val.npz", X=X[:100], y=y[:100], X_val=X[100:130], y_val=y[100:130])
    out = tmp_path / "m.safetensors"
    assert main(["train", "--data", str(tmp_path / "val.npz"), "--epochs", "1", "-q", "-o", str(out)]) == 1
    assert "holds arrays that are not read: X_val, y_val" in capsys.readouterr().err
    assert not out.exists()

    assert main(["train", "--epochs", "1", "--hidden", "8", "-q", "-o", str(out)]) == 0
    np.savez(tmp_path / "test.npz", X_test=X[100:130], y_test=y[100:130])
    capsys.readouterr()
    assert main(["evaluate", str(out), str(tmp_path / "test.npz"), "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    model = fnn.load(out)
    assert scored["samples"] == 30
    assert scored["accuracy"] == pytest.approx(model.evaluate(X[100:130], y[100:130])["accuracy"])
    assert main(["train", "--data", str(tmp_path / "test.npz"), "--epochs", "1", "-q"]) == 1  # not to train on
    assert "expected arrays X_train, y_train or X, y" in capsys.readouterr().err


def test_evaluate_takes_rows_of_a_single_class(tmp_path, capsys):
    """Rows of one class (or one row) are data to evaluate: evaluate refused them with train's 'nothing to learn'
    (fourth hostile review)."""
    model = tmp_path / "m.safetensors"
    assert main(["train", "--epochs", "1", "--hidden", "8", "-q", "-o", str(model)]) == 0
    X, y, _, _ = fnn.datasets.load_embedded(test_fraction=0.0)
    for name, rows in (("sevens", y == 7), ("one_row", np.arange(len(y)) == 0)):
        np.savez(tmp_path / f"{name}.npz", X=X[rows], y=y[rows])
        capsys.readouterr()
        assert main(["evaluate", str(model), str(tmp_path / f"{name}.npz"), "--json"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result == {"samples": int(rows.sum()), **fnn.load(model).evaluate(X[rows], y[rows])}


@pytest.mark.parametrize("suffix, text", [(".json", '{"train":' * 50000 + "1" + "}" * 50000),
                                          (".toml", "a = " + "[" * 50000 + "]" * 50000)])
def test_a_config_nested_too_deeply_is_a_config_error(tmp_path, capsys, suffix, text):
    """The parsers recurse per level: a hostile file gave 'internal error (a bug)': RecursionError, exit 1."""
    path = tmp_path / f"deep{suffix}"
    path.write_text(text)
    assert main(["train", "--config", str(path), "--print-config"]) == 2
    assert "nested too deeply" in capsys.readouterr().err


def test_the_readme_example_config_is_valid(tmp_path, monkeypatch, capsys):
    import re
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    (tmp_path / "exp.toml").write_text(re.search(r"```toml\n(.*?)```", readme, re.S).group(1))
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--config", "exp.toml", "--threads", "1", "--print-config"]) == 0
    assert json.loads(capsys.readouterr().out)["optimizer"]["class"] == "AdamW"


def test_npy_data_read_whole_is_checked_by_row(tmp_path, capsys):
    X = np.random.default_rng(0).random((30, 4))
    X[7, 2] = np.nan
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", np.arange(30) % 2)
    base = ["train", "--set", f"data.labels={tmp_path}/y.npy", "-q", "-o", str(tmp_path / "m")]
    assert main(base + ["--data", str(tmp_path / "X.npy")]) == 1
    assert "X.npy: X[7, 2]: nan is not finite" in capsys.readouterr().err
    assert main(base + ["--data", str(tmp_path / "missing.npy")]) == 1
    assert "missing.npy: no such file" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("schedule", [
    {"class": "Warmup", "warmup_steps": 7, "schedule": {"class": "Cosine", "total_steps": 50, "min_lr": 1e-4}},
    {"class": "Cosine", "total_steps": 20},
    {"class": "StepDecay", "step_size": 3, "gamma": 0.5},
])
def test_the_optimizer_follows_the_configured_schedule_step_by_step(schedule):
    from fastnn.cli import experiment
    from fastnn.optim.schedules import from_config

    exp = experiment.check({"optimizer": {"class": "Adam", "lr": 0.004}, "schedule": schedule})
    expected = from_config(exp.config["schedule"])
    assert expected(0) != expected(10)  # a schedule that moves: a dropped one shows
    lrs = [exp.optimizer().base_lr(step) for step in range(60)]
    assert lrs == [expected(step) for step in range(60)]  # Warmup kept (it was lost: lr 0.004 from step 0)


@pytest.mark.parametrize("flags, expected", [
    (["--optimizer", "adam", "--lr", "0.01"], {"class": "Adam", "lr": 0.01}),
    (["--optimizer", "sgd", "--momentum", "0.5", "--nesterov"], {"class": "SGD", "momentum": 0.5, "nesterov": True}),
    (["--optimizer", "adamw", "--set", "optimizer.weight_decay=0.3"], {"class": "AdamW", "weight_decay": 0.3}),
    (["--lr", "0.01"], {"class": "SGD", "lr": 0.01, "momentum": 0.9}),  # merged over the default SGD
])
def test_optimizer_flags_apply_to_the_optimizer_the_flag_names(flags, expected, capsys):
    # --optimizer replaced the optimizer table after --lr, --momentum and --set had been put into it
    assert main(["train", *flags, "--print-config"]) == 0
    optimizer = json.loads(capsys.readouterr().out)["optimizer"]
    assert {k: optimizer[k] for k in expected} == expected


def test_activation_is_never_ignored_next_to_layers(tmp_path, capsys):
    assert main(["train", "--print-config"]) == 0
    printed = capsys.readouterr().out
    assert json.loads(printed)["model"]["activation"] is None  # the layers say it: no second, stale value
    (tmp_path / "p.json").write_text(printed)
    # over a printed config (which has layers) --activation was silently dropped: the run stayed relu
    assert main(["train", "--config", str(tmp_path / "p.json"), "--activation", "tanh", "--print-config"]) == 2
    assert "model.activation: 'tanh' is for model.hidden; model.layers[0] has activation 'relu'" in \
        capsys.readouterr().err
    for flags, units, activation in [(["--activation", "relu"], [256, 128], "relu"),  # agrees with the layers
                                     (["--activation", "tanh", "--hidden", "8"], [8], "tanh"),
                                     # every activation model.activation takes (identity was the config's alone)
                                     (["--activation", "identity", "--hidden", "8"], [8], "identity"),
                                     (["--hidden", "8"], [8], "relu")]:
        assert main(["train", "--config", str(tmp_path / "p.json"), *flags, "--print-config"]) == 0
        layers = json.loads(capsys.readouterr().out)["model"]["layers"]
        assert [(c["units"], c["activation"]) for c in layers] == [(u, activation) for u in units]


def test_resume_refuses_a_config_or_set_that_would_change_the_run(tmp_path, capsys):
    ckpt = str(tmp_path / "run.ckpt")
    out = ["-o", str(tmp_path / "m.safetensors"), "-q"]
    assert main(["train", "--hidden", "8", "--epochs", "1", "--checkpoint", ckpt, *out]) == 0
    (tmp_path / "other.toml").write_text('[model]\nhidden = [8]\n[train]\nepochs = 1\n[optimizer]\nclass = "Adam"\n')
    # the checkpoint holds the run's settings: these were accepted and silently ignored
    for flags, where in [(["--set", "optimizer.lr=5.0"], "optimizer.lr would change it (recorded 0.05, given 5.0)"),
                         (["--set", "train.batch_size=3"], "train.batch_size"),
                         (["--set", "train.epochs=4"], "--epochs trains longer"),
                         (["--config", str(tmp_path / "other.toml")], "optimizer.class would change it"),
                         # accepted, then ignored: the run went on writing (over) run.ckpt
                         (["--set", f"checkpoint.path={tmp_path}/other.ckpt"], "checkpoint.path would change it")]:
        capsys.readouterr()
        assert main(["train", "--resume", ckpt, *flags, *out]) == 2, flags
        assert where in capsys.readouterr().err
    assert main(["train", "--resume", ckpt, "--set", "train.threads=1", "--epochs", "2", *out]) == 0
    assert len(fnn.load(tmp_path / "m.safetensors").get_weights()) == 4  # ran: 64-8-10


def test_resume_refuses_a_recorded_config_that_contradicts_the_checkpoint(tmp_path, capsys):
    """The recorded config (run.ckpt.config.json) is what --resume reads and what it tells the user to read, but
    the checkpoint's own fit arguments are what the run continues with: an edited record was silently ignored."""
    ckpt = str(tmp_path / "run.ckpt")
    out = ["-o", str(tmp_path / "m.safetensors"), "-q"]
    (tmp_path / "run.toml").write_text('[model]\nhidden = [8]\n[train]\nepochs = 1\nbatch_size = 16\n'
                                       '[loss]\nlabel_smoothing = 0.1\n'
                                       '[clip]\nclass = "ByGlobalNorm"\nmax_norm = 2.0\n'
                                       '[augment]\ntransforms = [{class = "RandomShift", max_shift = 1}]\n')
    assert main(["train", "--config", str(tmp_path / "run.toml"), "--checkpoint", ckpt, *out]) == 0
    record = tmp_path / "run.ckpt.config.json"
    original = record.read_text()
    for key, value, shown in [("optimizer", {"lr": 0.5}, "optimizer"), ("train", {"batch_size": 8}, "batch_size"),
                              ("loss", {"label_smoothing": 0.3}, "loss")]:
        edited = json.loads(original)
        edited[key].update(value)
        record.write_text(json.dumps(edited))
        capsys.readouterr()
        assert main(["train", "--resume", ckpt, "--epochs", "2", *out]) == 2, key
        assert f"gives {shown} " in capsys.readouterr().err
    record.write_text(original)  # the true record, with a loss, clip and augmentation config, resumes
    assert main(["train", "--resume", ckpt, "--epochs", "2", *out]) == 0


def test_a_run_refused_once_its_data_are_read_leaves_no_record(tmp_path, capsys):
    """fit's own checks refuse a BatchNorm batch of one row only with the data: the --resume record
    (run.ckpt.config.json) was written before them and left with no checkpoint beside it, or over the record of an
    earlier run's checkpoint at that path."""
    ckpt, record = tmp_path / "run.ckpt", tmp_path / "run.ckpt.config.json"
    batchnorm = ["--set", 'model.layers=[{"class": "Dense", "units": 8}, {"class": "BatchNorm"}]', "--epochs", "1"]
    run = ["train", "-q", "--checkpoint", str(ckpt), "-o", str(tmp_path / "m.safetensors"), *batchnorm]
    assert main([*run, "--batch-size", "1"]) == 1
    assert "BatchNorm in training mode needs more than 1 sample" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    assert main(run) == 0  # an earlier run, then one refused at that path: the earlier run's record stays
    written = ckpt.read_bytes(), record.read_bytes()
    assert main([*run, "--batch-size", "1"]) == 1
    assert (ckpt.read_bytes(), record.read_bytes()) == written
    assert main(["train", "-q", "--resume", str(ckpt), "--epochs", "2", "-o", str(tmp_path / "m.safetensors")]) == 0


def test_augmentation_flags_are_never_dropped(tmp_path, capsys):
    (tmp_path / "aug.toml").write_text('[augment]\ntransforms = [{class = "RandomShift", max_shift = 1}]\n'
                                       'fill_mode = "nearest"\n')

    def augment(*flags):
        assert main(["train", "--config", str(tmp_path / "aug.toml"), *flags, "--print-config"]) == 0
        return json.loads(capsys.readouterr().out)["augment"]
    # alone, --fill-mode / --fill-value were ignored; a transform flag reset the config's fill_mode to constant
    assert augment("--fill-mode", "reflect")["fill_mode"] == "reflect"
    assert augment("--fill-value", "0.5")["fill_value"] == 0.5
    rotated = augment("--rotation", "5")
    assert rotated["fill_mode"] == "nearest" and [t["class"] for t in rotated["transforms"]] == ["RandomRotation"]
    assert augment("--flip", "horizontal", "--flip-p", "0.2")["transforms"][0]["p"] == 0.2
    for flags, error in [(["--flip-p", "0.2"], "--flip-p is the probability of --flip"),
                         (["--fill-mode", "reflect"], "--fill-mode: there is no augmentation"),
                         (["--image-shape", "8,8"], "--image-shape: there is no augmentation")]:
        config = ["--config", str(tmp_path / "aug.toml")] if flags[0] == "--flip-p" else []
        assert main(["train", *config, *flags, "--print-config"]) == 2
        assert error in capsys.readouterr().err


def test_a_model_too_large_for_memory_names_the_key(monkeypatch, capsys, tmp_path):
    """numpy's "Unable to allocate 27.3 TiB" named no key. (Sequential is made to fail as numpy does: a real
    allocation of that size could succeed on a machine that overcommits, then be killed when touched.)"""
    import fastnn

    def too_large(*args, **kwargs):
        raise MemoryError("Unable to allocate 27.3 TiB for an array with shape (7500000000010,) and data type float32")

    monkeypatch.setattr(fastnn, "Sequential", too_large)
    assert main(["train", "-q", "--hidden", "100000000000", "-o", str(tmp_path / "m.safetensors")]) == 1
    err = capsys.readouterr().err
    assert "model.layers (model.hidden, --hidden): a model of widths 64-100000000000-10 does not fit in memory" in err
    assert "Unable to allocate 27.3 TiB" in err and not (tmp_path / "m.safetensors").exists()


@pytest.mark.parametrize("config, flags, message", [
    ('[data]\ntrain = "{bad}"\n', [], "data.train {bad} line 3, column 2: 'abc' is not a number"),
    ('[data]\ntrain = "{one}"\n', [], "data.train {one}: the training rows hold a single class"),
    ('[data]\ntrain = "{missing}"\n', [], "data.train {missing}: no such file"),
    ("", ["--set", "data.train={bad}"], "data.train {bad} line 3"),
    ('[data]\ntrain = "{good}"\n', ["--data", "{bad}"], "--data {bad} line 3"),
    ('[data]\ntrain = "{good}"\ntest = "{bad}"\n', [], "data.test {bad} line 3"),
    ('[data]\ntrain = "{good}"\n[validation]\ndata = "{bad}"\n', [], "validation.data {bad} line 3"),
], ids=["config", "config-one-class", "config-missing", "set", "flag-over-config", "config-test", "config-validation"])
def test_data_errors_name_the_source_that_gave_the_file(tmp_path, capsys, config, flags, message):
    """A data file named by a config file's [data] train (or --set data.train) was blamed on --data, a flag the
    user had not given; data.test and validation.data files too."""
    paths = {"bad": tmp_path / "bad.csv", "good": tmp_path / "good.csv", "one": tmp_path / "one.csv",
             "missing": tmp_path / "missing.csv"}
    paths["bad"].write_text("1,2,0\n3,4,1\n5,abc,0\n")
    paths["good"].write_text("".join(f"{i},{i % 3},{i % 2}\n" for i in range(20)))
    paths["one"].write_text("1,2,0\n3,4,0\n")
    (tmp_path / "c.toml").write_text(config.format(**paths))
    flags = [f.format(**paths) for f in flags] + (["--config", str(tmp_path / "c.toml")] if config else [])
    assert main(["train", "-q", "-o", str(tmp_path / "m.safetensors"), *flags]) == 1
    assert f"fastnn train: error: {message.format(**paths)}" in capsys.readouterr().err
    assert not (tmp_path / "m.safetensors").exists()
