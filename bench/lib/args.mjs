/** Command line: --scenario NAME (repeatable or comma separated), --quick, --dry-run, --profile SERVICE, --help. */
const SCENARIOS = ['provisioning', 'burst', 'intake', 'ingest', 'quota', 'memory', 'stages', 'scale'];
/** What `npm run bench` runs without --scenario: everything but scale, which takes minutes. */
const DEFAULT_SCENARIOS = SCENARIOS.filter((name) => name !== 'scale');

export function parseArgs(argv) {
  const options = { scenarios: [], quick: false, dryRun: false, profile: [], help: false };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const value = () => {
      const next = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    };
    if (arg === '--quick') options.quick = true;
    else if (arg === '--dry-run') options.dryRun = true;
    else if (arg === '--help' || arg === '-h') options.help = true;
    else if (arg.startsWith('--scenario')) options.scenarios.push(...value().split(','));
    else if (arg.startsWith('--profile')) options.profile.push(...value().split(','));
    else throw new Error(`unknown argument ${arg}`);
  }
  for (const name of options.scenarios) {
    if (!SCENARIOS.includes(name)) throw new Error(`unknown scenario "${name}"; known: ${SCENARIOS.join(', ')}`);
  }
  for (const name of options.profile) {
    if (!['api', 'provisioner', 'usage-aggregator', 'storage-verifier'].includes(name))
      throw new Error(`cannot profile "${name}"`);
  }
  if (options.scenarios.length === 0) options.scenarios = [...DEFAULT_SCENARIOS];
  if (options.quick && options.scenarios.includes('scale')) {
    throw new Error('scale provisions 1,000 tenants and takes minutes: it does not run in quick mode');
  }
  // Scenarios that read another's result run it first (memory is measured after ingest).
  if (options.scenarios.includes('memory') && !options.scenarios.includes('ingest'))
    options.scenarios.unshift('ingest');
  options.scenarios = SCENARIOS.filter((name) => options.scenarios.includes(name));
  return options;
}

export const USAGE = `node bench/run.mjs [--scenario NAME[,NAME]] [--quick] [--dry-run] [--profile SERVICE]
  scenarios: ${SCENARIOS.join(', ')} (default: all but scale)
  --quick     shorter runs (not allowed with scale)
  --dry-run   print the plan and exit
  --profile   run that service with --cpu-prof; a summary of self time by function is printed at the end`;
