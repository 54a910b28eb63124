//! Tests of parsing, overrides, validation and hints.

use super::*;

const BASE: &str = "name = \"t\"\n[train]\nepochs = 2\n";

fn err(text: &str, overrides: &[&str]) -> String {
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    RunConfig::parse(text, "t.toml", &o)
        .unwrap_err()
        .to_string()
}

fn ok(text: &str, overrides: &[&str]) -> RunConfig {
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    RunConfig::parse(text, "t.toml", &o).unwrap()
}

#[test]
fn defaults_are_the_article_job() {
    let c = ok("name = \"a\"", &[]);
    let m = c.mlp().unwrap();
    assert_eq!(m.hidden, vec![32]);
    assert_eq!((c.train.epochs, c.train.batch_size), (10, 32));
    let adam = c
        .train
        .adam
        .as_ref()
        .expect("the chosen optimizer's section is resolved");
    assert_eq!(adam.epsilon, 1e-7);
    assert_eq!(adam.epsilon_placement, EpsilonPlacement::Keras);
    assert_eq!(c.data.dataset, "mnist");
    assert_eq!(c.model.kind(), "mlp");
}

#[test]
fn overrides_use_the_config_types() {
    let c = ok(
        BASE,
        &[
            "train.lr=0.01",
            "model.hidden=[64, 32]",
            "model.activation=tanh",
            "seed=7",
        ],
    );
    assert_eq!(c.train.lr, 0.01);
    assert_eq!(c.mlp().unwrap().hidden, vec![64, 32]);
    assert_eq!(c.mlp().unwrap().activation, Activation::Tanh);
    assert_eq!(c.seed, 7);
    assert_eq!(c.train.epochs, 2);
}

#[test]
fn unknown_keys_are_named_with_their_source() {
    let e = err(BASE, &["train.lrr=0.1"]);
    assert!(
        e.starts_with("--set train.lrr=0.1: key `train.lrr`: unknown field `lrr`"),
        "{e}"
    );
    assert!(e.ends_with("did you mean `train.lr`?"), "{e}");
    let e = err("name = \"t\"\nepoch = 3\n", &[]);
    assert!(
        e.starts_with("config t.toml: key `epoch`: unknown field"),
        "{e}"
    );
    assert!(
        e.contains("did you mean `train.epochs`?") || !e.contains("did you mean"),
        "{e}"
    );
}

#[test]
fn typos_get_the_closest_key() {
    let e = err(BASE, &["train.epoch=3"]);
    assert!(e.contains("did you mean `train.epochs`?"), "{e}");
    let e = err("name = \"t\"\n[model]\nhiden = [3]\n", &[]);
    assert!(
        e.contains("key `model.hiden`: unknown field `hiden`")
            && e.contains("did you mean `model.hidden`?"),
        "{e}"
    );
    let e = err(BASE, &["model.kind=mpl"]);
    assert!(
        e.contains("key `model.kind` = \"mpl\": unknown model kind")
            && e.contains("did you mean `mlp`?"),
        "{e}"
    );
}

#[test]
fn a_section_key_given_at_the_top_is_pointed_to_its_section() {
    let e = err(BASE, &["engine=manual"]);
    assert!(
        e.contains("unknown field `engine`") && e.contains("did you mean `train.engine`?"),
        "{e}"
    );
    let e = err(BASE, &["hidden=[64]"]);
    assert!(e.contains("did you mean `model.hidden`?"), "{e}");
    let e = err(BASE, &["nonsense=1"]);
    assert!(!e.contains("did you mean"), "{e}");
}

#[test]
fn wrong_types_and_values_are_named_with_the_rule() {
    let e = err(BASE, &["train.lr=fast"]);
    assert!(
        e.contains("`train.lr`") && e.contains("invalid type"),
        "{e}"
    );
    let e = err(BASE, &["train.lr=0"]);
    assert!(
        e.contains("--set train.lr=0: key `train.lr` = 0: must be a finite number > 0"),
        "{e}"
    );
    let e = err("name = \"t\"\n[train]\nlr = 0\n", &[]);
    assert!(e.starts_with("config t.toml: key `train.lr` = 0"), "{e}");
    let e = err(BASE, &["train.batch_size=0"]);
    assert!(e.contains("`train.batch_size` = 0"), "{e}");
    let e = err(BASE, &["train.epochs=0"]);
    assert!(e.contains("`train.epochs` = 0"), "{e}");
    let e = err(BASE, &["model.activation=swish"]);
    assert!(e.contains("unknown variant `swish`"), "{e}");
    let e = err(BASE, &["train.batch_size=-3"]);
    assert!(e.contains("`train.batch_size`"), "{e}");
    let e = err(BASE, &["data.validation=1.5"]);
    assert!(e.contains("must be in [0, 1)"), "{e}");
    let e = err(BASE, &["name=../x"]);
    assert!(e.contains("`name`"), "{e}");
}

#[test]
fn malformed_input_is_one_line() {
    let e = err("name = \n[train", &[]);
    assert!(e.starts_with("config t.toml: not valid TOML"), "{e}");
    assert!(!e.contains('\n'), "{e}");
    let e = err(BASE, &["noequals"]);
    assert!(e.contains("expected key=value"), "{e}");
    let e = err(BASE, &["name.x=1"]);
    assert!(e.contains("`name` is a value"), "{e}");
}

#[test]
fn schedules_by_hand() {
    let mut t = TrainConfig {
        lr: 0.1,
        epochs: 4,
        ..TrainConfig::default()
    };
    assert_eq!(t.lr_at(3, 5, 10), 0.1);
    t.schedule = ScheduleName::Step;
    t.step_epochs = 2;
    t.gamma = 0.5;
    assert_eq!(t.lr_at(0, 0, 10), 0.1);
    assert_eq!(t.lr_at(1, 9, 10), 0.1);
    assert_eq!(t.lr_at(2, 0, 10), 0.05);
    t.schedule = ScheduleName::Cosine;
    t.lr_min = 0.0;
    assert_eq!(t.lr_at(0, 0, 10), 0.1);
    assert!(
        (t.lr_at(2, 0, 10) - 0.05).abs() < 1e-15,
        "half way: cos(pi/2) = 0"
    );
    assert!(t.lr_at(3, 9, 10) < 0.001);
}

#[test]
fn each_optimizer_has_its_own_section() {
    let c = ok(BASE, &["train.optimizer=sgd", "train.sgd.momentum=0.9"]);
    assert_eq!(c.train.momentum(), 0.9);
    assert!(
        c.train.adam.is_none(),
        "only the chosen optimizer's section"
    );
    let e = err(BASE, &["train.optimizer=sgd", "train.adam.beta1=0.5"]);
    assert!(
        e.contains("key `train.adam`")
            && e.contains("apply to optimizer = \"adam\", but train.optimizer = \"sgd\""),
        "{e}"
    );
    let e = err(BASE, &["train.optimizer=sgd", "train.sgd.nesterov=true"]);
    assert!(e.contains("needs train.sgd.momentum > 0"), "{e}");
    let e = err(BASE, &["train.lr_min=0.1", "train.lr=0.01"]);
    assert!(e.contains("`train.lr_min`"), "{e}");
    let c = ok(BASE, &["train.optimizer=adamw"]);
    assert_eq!(c.train.adamw.as_ref().unwrap().weight_decay, Some(0.01));
    let e = err(BASE, &["train.adam.weight_decay=0.1"]);
    assert!(e.contains("optimizer = \"adamw\""), "{e}");
    let c = ok(BASE, &["train.adam.epsilon_placement=pytorch"]);
    assert_eq!(
        c.train.adam.unwrap().epsilon_placement,
        EpsilonPlacement::Pytorch
    );
}

#[test]
fn old_configs_are_refused_naming_the_new_key() {
    let e = err(BASE, &["train.beta1=0.5"]);
    assert!(
        e.contains("key `train.beta1`") && e.contains("moved to `train.adam.beta1`"),
        "{e}"
    );
    let e = err(
        "name = \"t\"\n[train]\noptimizer = \"rmsprop\"\nepsilon = 1e-7\n",
        &[],
    );
    assert!(e.contains("moved to `train.rmsprop.epsilon`"), "{e}");
    let e = err(
        "name = \"t\"\n[train]\noptimizer = \"sgd\"\nmomentum = 0.9\n",
        &[],
    );
    assert!(e.contains("moved to `train.sgd.momentum`"), "{e}");
    let e = err("name = \"t\"\n[train]\noptimizer = \"momentum\"\n", &[]);
    assert!(
        e.contains("optimizer = \"sgd\" with `train.sgd.momentum = 0.9`"),
        "{e}"
    );
    // A config without `model.kind` is an MLP, as every config was before kinds.
    let c = ok("name = \"t\"\n[model]\nhidden = [8]\n", &[]);
    assert_eq!(c.model.kind(), "mlp");
}

#[test]
fn dropout_and_early_stopping_are_checked() {
    let c = ok(BASE, &["model.hidden=[8, 8]", "model.dropout=[0.2, 0.5]"]);
    assert_eq!(c.mlp().unwrap().dropout_after(1), 0.5);
    let e = err(BASE, &["model.hidden=[8, 8]", "model.dropout=[0.2]"]);
    assert!(e.contains("needs one rate per hidden layer (2"), "{e}");
    let e = err(BASE, &["model.dropout=[1.0]"]);
    assert!(
        e.contains("key `model.dropout[0]` = 1: must be in [0, 1)"),
        "{e}"
    );
    let e = err(BASE, &["train.early_stopping.patience=2"]);
    assert!(e.contains("needs a validation split"), "{e}");
    let e = err(
        BASE,
        &[
            "data.validation=0.1",
            "train.early_stopping.monitor=test_loss",
        ],
    );
    assert!(e.contains("must be a validation column"), "{e}");
    let c = ok(
        BASE,
        &[
            "data.validation=0.1",
            "train.early_stopping.monitor=valid_accuracy",
        ],
    );
    let es = c.train.early_stopping.unwrap();
    assert!(es.maximize() && es.improves(0.9, 0.8) && !es.improves(0.8, 0.8));
    let e = err(BASE, &["train.engine=manual", "model.dropout=[0.5]"]);
    assert!(e.contains("engine = \"manual\" has no dropout"), "{e}");
}

#[test]
fn devices_are_checked_and_left_out_of_single_device_configs() {
    let c = ok(BASE, &["train.devices=[0, 0]"]);
    assert_eq!(c.train.devices, vec![0, 0]);
    assert!(c.to_toml().contains("devices = [0, 0]"));
    // One device (the default) writes no key: older run records still match.
    assert!(!ok(BASE, &[]).to_toml().contains("devices"));
    let e = err(BASE, &["train.devices=[0, 1]", "model.kind=\"vae\""]);
    assert!(
        e.contains("multi-device training covers classifiers (mlp, cnn); model.kind = \"vae\""),
        "{e}"
    );
    let e = err(BASE, &["train.devices=[0, 1]", "train.engine=manual"]);
    assert!(
        e.contains("engine = \"manual\" trains on one device"),
        "{e}"
    );
    let e = err(BASE, &["train.devices=[0, 1, 2]", "train.batch_size=2"]);
    assert!(e.contains("train.batch_size = 2 is smaller"), "{e}");
}

#[test]
fn resolved_config_round_trips() {
    for o in [
        vec!["data.limit_train=100"],
        vec!["train.optimizer=adamw", "model.dropout=[0.1]"],
        vec![
            "train.optimizer=sgd",
            "train.sgd.momentum=0.5",
            "data.validation=0.2",
            "train.early_stopping.patience=1",
        ],
    ] {
        let c = ok(BASE, &o);
        let text = c.to_toml();
        assert!(text.contains("kind = \"mlp\""), "{text}");
        let again = RunConfig::parse(&text, "again", &[]).unwrap();
        assert_eq!(c, again, "{text}");
    }
}

/// A grid that switches the optimizer of a config whose file has an `[train.adam]` section:
/// that section described the file's choice and is dropped; a section given with `--set` for
/// another optimizer is still refused.
#[test]
fn switching_the_optimizer_with_set_drops_the_files_section() {
    let file = "name = \"t\"\n[train]\noptimizer = \"adam\"\n[train.adam]\nbeta1 = 0.8\n";
    let c = ok(file, &["train.optimizer=sgd"]);
    assert!(c.train.adam.is_none() && c.train.sgd.is_some());
    let c = ok(file, &[]);
    assert_eq!(c.train.adam.unwrap().beta1, 0.8);
    let e = err(file, &["train.optimizer=sgd", "train.adam.beta2=0.9"]);
    assert!(e.contains("apply to optimizer = \"adam\""), "{e}");
    let e = err(
        "name = \"t\"\n[train]\noptimizer = \"sgd\"\n[train.adam]\nbeta1 = 0.8\n",
        &[],
    );
    assert!(e.starts_with("config t.toml: key `train.adam`"), "{e}");
}

#[test]
fn rbm_units_and_pretraining_are_checked() {
    let rbm = &format!("{BASE}[model]\nkind = \"rbm\"\n");
    let e = err(
        rbm,
        &[
            "model.visible_units=gaussian",
            "model.hidden_units=gaussian",
        ],
    );
    assert!(e.contains("key `model.hidden_units`"), "{e}");
    assert!(e.contains("no normaliser"), "{e}");
    ok(rbm, &["model.visible_units=gaussian"]);
    // The guide's momentum, 0.5 then 0.9, switched after 5 epochs as the 2006 code does.
    let c = ok(rbm, &["model.momentum_final=0.9"]);
    let ModelConfig::Rbm(spec) = &c.model else {
        panic!("not an RBM")
    };
    let by_epoch: Vec<f64> = (1..=7).map(|e| spec.momentum_at(e)).collect();
    assert_eq!(by_epoch, [0.5, 0.5, 0.5, 0.5, 0.5, 0.9, 0.9]);
    let c = ok(rbm, &["model.momentum=0.7"]);
    let ModelConfig::Rbm(spec) = &c.model else {
        panic!("not an RBM")
    };
    assert_eq!(spec.momentum_at(9), 0.7);
    let e = err(rbm, &["model.momentum_final=1.5"]);
    assert!(e.contains("key `model.momentum_final`"), "{e}");
    let e = err(
        rbm,
        &["model.momentum_final=0.9", "model.momentum_epochs=0"],
    );
    assert!(e.contains("key `model.momentum_epochs`"), "{e}");
    let mlp = &format!("{BASE}[model]\nkind = \"mlp\"\n");
    ok(mlp, &["model.maxout_pieces=5", "model.hidden=[8, 8]"]);
    for (sets, key, why) in [
        (
            &["model.maxout_pieces=1"][..],
            "model.maxout_pieces",
            "linear unit",
        ),
        (
            &["model.maxout_pieces=5", "model.hidden=[]"][..],
            "model.maxout_pieces",
            "needs hidden layers",
        ),
        (
            &["model.maxout_pieces=5", "model.activation=sigmoid"][..],
            "model.activation",
            "their own activation",
        ),
        (
            &["model.maxout_pieces=5", "train.engine=manual"][..],
            "model.maxout_pieces",
            "no maxout units",
        ),
    ] {
        let e = err(mlp, sets);
        assert!(
            e.contains(&format!("key `{key}`")) && e.contains(why),
            "{sets:?}: {e}"
        );
    }
    let ae = &format!("{BASE}[model]\nkind = \"autoencoder\"\npretrain_epochs = 2\n");
    let e = err(ae, &["model.activation=relu"]);
    assert!(e.contains("key `model.activation`"), "{e}");
    let e = err(ae, &["model.code_activation=tanh"]);
    assert!(e.contains("key `model.code_activation`"), "{e}");
    let e = err(ae, &["train.init_from=w.safetensors"]);
    assert!(e.contains("key `train.init_from`"), "{e}");
    ok(ae, &["model.code_activation=sigmoid"]);
}

#[test]
fn lenet5_and_the_piecewise_schedule_are_checked() {
    let l5 = &format!("{BASE}[model]\nkind = \"lenet5\"\n");
    let e = err(l5, &[]);
    assert!(e.contains("key `train.optimizer`"), "{e}");
    assert!(e.contains("model.sdlm = true"), "{e}");
    ok(l5, &["train.optimizer=sgd"]);
    ok(l5, &["model.sdlm=false"]);
    let e = err(l5, &["train.optimizer=sgd", "model.sdlm_mu=0"]);
    assert!(e.contains("key `model.sdlm_mu`"), "{e}");
    let pw = |sets: &[&str]| {
        let mut all = vec!["train.schedule=piecewise"];
        all.extend(sets);
        err(BASE, &all)
    };
    assert!(pw(&[]).contains("key `train.lr_factors`"));
    let e = pw(&["train.lr_boundaries=[2, 2]", "train.lr_factors=[0.5, 0.1]"]);
    assert!(e.contains("must be increasing"), "{e}");
    let e = err(BASE, &["train.lr_boundaries=[2]", "train.lr_factors=[0.5]"]);
    assert!(e.contains("piecewise"), "{e}");
    // The paper's LeNet-5 schedule: 5e-4 for 2 passes, 2e-4 for 3, 1e-4 for 3, 5e-5 for 4, then
    // 1e-5.
    let c = ok(
        BASE,
        &[
            "train.schedule=piecewise",
            "train.lr=0.0005",
            "train.lr_boundaries=[2, 5, 8, 12]",
            "train.lr_factors=[0.4, 0.2, 0.1, 0.02]",
        ],
    );
    let lrs: Vec<f64> = (0..14).map(|e| c.train.lr_at(e, 0, 1)).collect();
    let want = [
        5e-4, 5e-4, 2e-4, 2e-4, 2e-4, 1e-4, 1e-4, 1e-4, 5e-5, 5e-5, 5e-5, 5e-5, 1e-5, 1e-5,
    ];
    for (got, want) in lrs.iter().zip(want) {
        assert!((got - want).abs() < 1e-12, "{lrs:?}");
    }
}

#[test]
fn maxout_and_noise_are_checked() {
    let gan = &format!("{BASE}[model]\nkind = \"gan\"\n");
    let e = err(gan, &["model.maxout_pieces=1"]);
    assert!(e.contains("key `model.maxout_pieces`"), "{e}");
    let e = err(gan, &["model.input_dropout=1.0"]);
    assert!(e.contains("key `model.input_dropout`"), "{e}");
    let e = err(gan, &["model.noise=cauchy"]);
    assert!(e.contains("model.noise"), "{e}");
    let e = err(gan, &["model.d_loss_scale=0"]);
    assert!(e.contains("key `model.d_loss_scale`"), "{e}");
    let e = err(gan, &["model.discriminator_init=-0.1"]);
    assert!(e.contains("key `model.discriminator_init`"), "{e}");
    let e = err(gan, &["model.shared_dropout_masks=true"]);
    assert!(e.contains("key `model.shared_dropout_masks`"), "{e}");
    assert!(e.contains("model.simultaneous = true"), "{e}");
    ok(
        gan,
        &["model.shared_dropout_masks=true", "model.simultaneous=true"],
    );
    let c = ok(gan, &["model.maxout_pieces=5", "model.noise=uniform"]);
    assert!(matches!(&c.model, ModelConfig::Gan(g) if g.noise == Noise::Uniform));
}

#[test]
fn exponential_decay_and_a_rising_momentum() {
    // pylearn2's ExponentialDecay of the 2014 GAN: the step divided by 1.000004 each step.
    let c = ok(
        BASE,
        &[
            "train.schedule=exponential",
            "train.lr=0.1",
            "train.gamma=0.999996",
            "train.lr_min=0.000001",
        ],
    );
    let lr = c.train.lr_at(2, 10, 500);
    assert!((lr - 0.1 * 0.999996f64.powi(1010)).abs() < 1e-12, "{lr}");
    let floor = c.train.lr_at(10_000, 0, 500);
    assert_eq!(floor, 0.000001);
    let gan = &format!("{BASE}[model]\nkind = \"gan\"\n");
    let sets = [
        "train.optimizer=sgd",
        "train.sgd.momentum=0.5",
        "train.sgd.momentum_final=0.7",
        "train.sgd.momentum_epochs=250",
    ];
    let c = ok(gan, &sets);
    let sgd = c.train.sgd.as_ref().unwrap();
    assert_eq!(sgd.momentum_at(1), 0.5);
    assert!((sgd.momentum_at(125) - (0.5 + 0.2 * 124.0 / 249.0)).abs() < 1e-12);
    assert_eq!(sgd.momentum_at(250), 0.7);
    assert_eq!(sgd.momentum_at(400), 0.7);
    let e = err(BASE, &sets);
    assert!(e.contains("key `train.sgd.momentum_final`"), "{e}");
    let e = err(gan, &["model.max_col_norm=-1"]);
    assert!(e.contains("key `model.max_col_norm`"), "{e}");
}

#[test]
fn float_dtype_is_f32_unless_asked_and_f64_only_through_autodiff() {
    let mlp = ok(BASE, &[]);
    assert_eq!(mlp.train.float_dtype, FloatDtype::F32);
    // The default is not written, so the configs of runs made before the key existed match.
    assert!(!mlp.to_toml().contains("float_dtype"));
    let f64 = ok(BASE, &["train.float_dtype=f64"]);
    assert_eq!(f64.train.float_dtype, FloatDtype::F64);
    assert!(f64.to_toml().contains("float_dtype = \"f64\""));
    let e = err(BASE, &["train.float_dtype=f16"]);
    assert!(e.contains("key `train.float_dtype`"), "{e}");
    let e = err(BASE, &["train.float_dtype=f64", "train.engine=manual"]);
    assert!(
        e.contains("key `train.float_dtype`") && e.contains("manual"),
        "{e}"
    );
    let pca = "name = \"t\"\n[train]\nepochs = 1\n[model]\nkind = \"pca\"\n";
    let e = err(pca, &["train.float_dtype=f64"]);
    assert!(
        e.contains("key `train.float_dtype`") && e.contains("pca"),
        "{e}"
    );
}

#[test]
fn sdlm_layerwise_is_unwritten_while_off_and_excludes_sdlm_exact() {
    let lenet5 = "name = \"t\"\n[train]\noptimizer = \"sgd\"\n[model]\nkind = \"lenet5\"\n";
    assert!(!ok(lenet5, &[]).to_toml().contains("sdlm_layerwise"));
    assert!(
        ok(lenet5, &["model.sdlm_layerwise=true"])
            .to_toml()
            .contains("sdlm_layerwise = true")
    );
    let e = err(
        lenet5,
        &["model.sdlm_layerwise=true", "model.sdlm_exact=true"],
    );
    assert!(e.contains("key `model.sdlm_layerwise`"), "{e}");
}

#[test]
fn lenet5_init_is_unwritten_while_the_papers_and_names_its_values() {
    let lenet5 = "name = \"t\"\n[train]\noptimizer = \"sgd\"\n[model]\nkind = \"lenet5\"\n";
    let default = ok(lenet5, &[]);
    assert!(!default.to_toml().contains("init"));
    let lush = ok(lenet5, &["model.init=sqrt_fan_in"]);
    assert!(lush.to_toml().contains("init = \"sqrt_fan_in\""));
    assert_eq!(ok(&lush.to_toml(), &[]), lush);
    let e = err(lenet5, &["model.init=glorot_uniform"]);
    assert!(e.contains("model.init") && e.contains("sqrt_fan_in"), "{e}");
}

#[test]
fn conjugate_gradients_are_for_the_autoencoder_and_pretraining_batches_its_own() {
    let e = err(BASE, &["train.optimizer=cg"]);
    assert!(e.contains("key `train.optimizer`"), "{e}");
    assert!(
        e.contains("model.kind = \"autoencoder\", not \"mlp\""),
        "{e}"
    );
    let ae = &format!("{BASE}[model]\nkind = \"autoencoder\"\npretrain_epochs = 2\n");
    let c = ok(ae, &["train.optimizer=cg"]);
    // The chosen optimizer's section is written out with its defaults (Hinton's code: 3).
    assert_eq!(c.train.cg.as_ref().map(|s| s.line_searches), Some(3));
    let e = err(ae, &["train.optimizer=cg", "train.cg.line_searches=0"]);
    assert!(e.contains("key `train.cg.line_searches`"), "{e}");
    let e = err(ae, &["train.optimizer=cg", "train.weight_decay=0.001"]);
    assert!(e.contains("key `train.weight_decay`"), "{e}");
    let e = err(ae, &["train.optimizer=cg", "train.schedule=cosine"]);
    assert!(
        e.contains("key `train.schedule`") && e.contains("no learning rate"),
        "{e}"
    );
    // A file choosing cg, switched to Adam from the command line: its [train.cg] is dropped.
    let file_cg = &format!("{ae}[train]\noptimizer = \"cg\"\n[train.cg]\nline_searches = 5\n")
        .replace("[train]\nepochs = 2\n", "");
    assert_eq!(
        ok(file_cg, &[]).train.cg.as_ref().map(|s| s.line_searches),
        Some(5)
    );
    assert!(ok(file_cg, &["train.optimizer=adam"]).train.cg.is_none());
    // Pretraining on batches of 100 while fine-tuning on batches of 1000, as the paper.
    let c = ok(
        ae,
        &["model.pretrain_batch_size=100", "train.batch_size=1000"],
    );
    assert!(matches!(&c.model, ModelConfig::Autoencoder(a) if a.pretrain_batch_size == Some(100)));
    let plain = &format!("{BASE}[model]\nkind = \"autoencoder\"\n");
    let e = err(plain, &["model.pretrain_batch_size=100"]);
    assert!(e.contains("set model.pretrain_epochs > 0 too"), "{e}");
    // Unset, the key is not written: older configs read back unchanged.
    let text = toml::to_string(&ok(ae, &[])).unwrap();
    assert!(!text.contains("pretrain_batch_size"), "{text}");
}
