//! Split runs: [`reproduce_shard`] trains one slice of every arm's members and writes a
//! shard file; [`merge_shards`] evaluates the union of the shards exactly as an unsplit
//! [`reproduce`](super::reproduce) would.

use super::*;

/// What a shard run wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardSummary {
    /// The shard file.
    pub path: PathBuf,
    /// Members left out, by reason (over the shard's members of every arm).
    pub divergence: Divergence,
}

fn shard_in<T: Scalar>(
    cfg: &ReproduceConfig,
    shard: Shard,
    progress: bool,
    path: &Path,
) -> Result<ShardSummary> {
    let start = Instant::now();
    let setup = Setup::<T>::new(cfg)?;
    let range = shard.members(cfg.members);
    let sgd = cfg.sgd(setup.epochs);
    let mut sections = Vec::new();
    write_file_atomic(path, |out| {
        let mut writer = ShardWriter::create(path, out)?;
        for arm in &cfg.arms {
            let gnet = setup.network(arm)?;
            let seed = arm.seed(cfg.seed);
            let mut members = init_members::<T>(setup.threads, &gnet, arm, seed, range.clone())?;
            let bar = arm_bar(progress, arm, range.len() * setup.epochs);
            let mut diverged = Vec::new();
            writer.epoch(None, members.iter().map(|m| &m.theta[..]))?;
            for epoch in 1..=setup.epochs {
                let outcomes = train_epoch(&setup, &gnet, &sgd, &mut members, epoch, &bar)?;
                let mut losses = vec![f64::NAN; members.len()];
                for ((m, o), loss) in members.iter_mut().zip(outcomes).zip(&mut losses) {
                    match o {
                        Some(Ok(l)) => *loss = l,
                        Some(Err(msg)) => {
                            m.alive = false;
                            diverged.push((m.index, epoch, msg));
                        }
                        None => {}
                    }
                }
                writer.epoch(Some(&losses), members.iter().map(|m| &m.theta[..]))?;
            }
            bar.finish_and_clear();
            sections.push(ArmSection {
                name: arm.spec(),
                num_params: gnet.network().num_params(),
                start: range.start,
                end: range.end,
                diverged,
            });
        }
        writer.finish(ShardHeader {
            format: SHARD_FORMAT,
            version: env!("CARGO_PKG_VERSION").into(),
            config: cfg.clone(),
            shard: shard.to_string(),
            arms: sections.clone(),
            run_secs: start.elapsed().as_secs_f64(),
            body_crc32: 0,
        })
    })?;
    let arms: Vec<ArmResult> = sections
        .iter()
        .map(|s| ArmResult {
            name: s.name.clone(),
            support: String::new(),
            init: String::new(),
            diverged_members: s.diverged.iter().map(|(i, _, m)| (*i, m.clone())).collect(),
            epochs: Vec::new(),
            architecture: None,
        })
        .collect();
    Ok(ShardSummary {
        path: path.to_path_buf(),
        divergence: Divergence::of(&arms),
    })
}

/// Trains slice `cfg.shard` of the members of every arm and writes their θ at every epoch
/// (with losses and divergences) to `cfg.out_dir/shard-i-of-n.eqshard`; returns that path.
/// Replaces an existing shard file (atomically). Errors if `cfg.shard` is `None`, on a bad
/// configuration, or on I/O failure.
pub fn reproduce_shard(cfg: &ReproduceConfig, progress: bool) -> Result<PathBuf> {
    let opts = RunOptions {
        progress,
        force: true,
        resume: false,
    };
    reproduce_shard_with(cfg, &opts).map(|s| s.path)
}

/// [`reproduce_shard`] with explicit [`RunOptions`]: the shard file is checked before any
/// work ([`check_shard_file`]: an existing one is refused unless `force`), written to a
/// temporary sibling, `fsync`ed and renamed into place, so a good shard is never lost to a
/// kill or a full disk. (`resume` does not apply: a shard is retrained whole.)
pub fn reproduce_shard_with(cfg: &ReproduceConfig, opts: &RunOptions) -> Result<ShardSummary> {
    let shard = cfg
        .shard
        .ok_or_else(|| Error::Invalid("reproduce_shard needs a shard (--shard i/n)".into()))?;
    cfg.validate()?;
    let path = cfg.out_dir.join(shard_file_name(&shard));
    check_shard_file(&path, opts.force)?;
    match cfg.scalar {
        ScalarKind::F32 => shard_in::<f32>(cfg, shard, opts.progress, &path),
        ScalarKind::F64 => shard_in::<f64>(cfg, shard, opts.progress, &path),
    }
}

/// The configuration the shards in `dirs` were trained with (verified as by
/// [`merge_shards`]), with `out_dir` and `shard` unset: the starting point of a merge that
/// repeats no training flag.
pub fn shard_config(dirs: &[PathBuf]) -> Result<ReproduceConfig> {
    let shards = open_shards(dirs)?;
    Ok(shards[0].header.config.clone())
}

fn merge_in<T: Scalar>(cfg: &ReproduceConfig, shards: &[ShardFile]) -> Result<Results> {
    let start = Instant::now();
    let setup = Setup::<T>::new(cfg)?;
    let mut arms = Vec::new();
    for (a, arm) in cfg.arms.iter().enumerate() {
        let gnet = setup.network(arm)?;
        let p = gnet.network().num_params();
        if let Some(s) = shards.iter().find(|s| s.header.arms[a].num_params != p) {
            return Err(Error::Data(format!(
                "{}: arm `{}` has {} parameters, this eqens builds {p}",
                s.path.display(),
                arm.name(),
                s.header.arms[a].num_params
            )));
        }
        let n = cfg.members;
        let mut diverged_at: Vec<Option<(usize, &str)>> = vec![None; n];
        // Divergences in the order an unsplit run records them: by epoch, then member.
        for s in shards {
            for (i, e, msg) in &s.header.arms[a].diverged {
                let slot = diverged_at.get_mut(*i).ok_or_else(|| {
                    Error::Data(format!(
                        "{}: diverged member {i} out of range",
                        s.path.display()
                    ))
                })?;
                *slot = Some((*e, msg.as_str()));
            }
        }
        let mut thetas = vec![T::zero(); n * p];
        let mut losses = vec![f64::NAN; n];
        let mut alive = vec![true; n];
        let mut ev = ArmEvaluator::new(&setup, &gnet, arm.seed(cfg.seed), cfg.resamples);
        let mut evaluated = 0;
        for &epoch in &setup.eval_epochs {
            for s in shards {
                let sec = &s.header.arms[a];
                s.read_epoch(
                    a,
                    epoch,
                    &mut losses[sec.start..sec.end],
                    &mut thetas[sec.start * p..sec.end * p],
                )?;
            }
            for e in evaluated + 1..=epoch {
                for (i, d) in diverged_at.iter().enumerate() {
                    if let Some((at, msg)) = d {
                        if *at == e && alive[i] {
                            alive[i] = false;
                            ev.diverged.push((i, msg.to_string()));
                        }
                    }
                }
            }
            evaluated = epoch;
            let cands: Vec<(usize, &[T], Option<f64>)> = (0..n)
                .filter(|&i| alive[i])
                .map(|i| {
                    (
                        i,
                        &thetas[i * p..(i + 1) * p],
                        (epoch > 0).then_some(losses[i]),
                    )
                })
                .collect();
            for i in ev.epoch(epoch, &cands)? {
                alive[i] = false;
            }
        }
        arms.push(ev.finish(arm, setup.group)?);
    }
    let train_secs = shards.iter().map(|s| s.header.run_secs).sum();
    let elapsed = start.elapsed().as_secs_f64();
    finish(&setup, cfg, arms, elapsed, shards.len(), train_secs)
}

/// Loads and verifies the shard files in `dirs` (directories contribute every `.eqshard`
/// file in them; each file's checksums, format and version are checked),
/// checks that they were trained with one configuration, that `cfg` agrees with it except in
/// evaluation settings ([`EVAL_FIELDS`]: sizes, resamples, OOD set, evaluated epochs,
/// threads), and that they
/// cover every member of every arm exactly once; evaluates them exactly as [`reproduce`]
/// would, writes the report to `cfg.out_dir` (replacing a report) and returns the results.
/// Use [`shard_config`] for a `cfg` taken from the shards.
pub fn merge_shards(dirs: &[PathBuf], cfg: &ReproduceConfig) -> Result<Results> {
    merge_shards_with(
        dirs,
        cfg,
        &RunOptions {
            progress: false,
            force: true,
            resume: false,
        },
    )
}

/// [`merge_shards`] with explicit [`RunOptions`]: the output folder is checked before any
/// work, and an existing report is replaced only with `force`.
pub fn merge_shards_with(
    dirs: &[PathBuf],
    cfg: &ReproduceConfig,
    opts: &RunOptions,
) -> Result<Results> {
    cfg.validate()?;
    check_report_dir(&cfg.out_dir, opts.force)?;
    let shards = open_shards(dirs)?;
    let trained = &shards[0].header.config;
    if let Some(diff) = config_difference(cfg, trained, &EVAL_FIELDS) {
        return Err(Error::Invalid(format!(
            "{} was trained with a different configuration than the merge asks for ({diff}; \
             merge value first)",
            shards[0].path.display()
        )));
    }
    match cfg.scalar {
        ScalarKind::F32 => merge_in::<f32>(cfg, &shards),
        ScalarKind::F64 => merge_in::<f64>(cfg, &shards),
    }
}
