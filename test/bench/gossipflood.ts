/**
 * `npm run bench -- gossipflood`: junk UDP at a speaker's gossip port (issue 12's names for the
 * memberlist bench's junk mode). A 3-member encrypted cluster on loopback; one member is flooded
 * with random datagrams at rising rates:
 *  - junk_absorbed_per_s: the highest rate with no failed probe of the victim by its peers and no
 *    kernel drop at its socket;
 *  - junk_false_suspicions: failed probes plus deaths of healthy members during a 4,000 pkt/s,
 *    25 s flood (issue 10's attack).
 */
import memberlistBench from './memberlist.js';
import type { BenchContext } from './figure.js';

const RENAME: Record<string, string> = { junk_absorbed_pkts_per_s: 'junk_absorbed_per_s' };

export default async function bench(ctx: BenchContext): Promise<void> {
  await memberlistBench({ ...ctx, args: ['--only', 'junk', ...ctx.args], emit: (f) => ctx.emit({ ...f, metric: RENAME[f.metric] ?? f.metric }) });
}
