/*
 * meta_contract.h — the contract suite of the meta store port (store/meta.h).
 *
 * Every meta store adapter (SQLite now; PostgreSQL and MongoDB later) runs
 * the same suite: it reaches the adapter only through ad_meta_open() and the
 * slots of ad_meta_ops, so nothing in it knows how a store keeps or indexes
 * its documents.
 *
 * What it checks, in order:
 *   - ping, get/insert/replace/remove with their revision rules, ids with
 *     unicode, spaces, quotes and '%';
 *   - find over a corpus of ~60 varied documents and ~170 filters (every
 *     operator, dotted paths through arrays, numeric path parts, 1 vs 1.0,
 *     big integers, nulls and missing fields): the ids a cursor yields must
 *     equal the brute-force answer (every document in creation order for
 *     which ad_filter_match() says 1), also sorted, skipped and limited —
 *     so an adapter's index may narrow candidates but never drop a match;
 *     then the same after replaces, removes and re-inserts;
 *   - filters at the parser's size limits (1000-element $in/$all/$or/$and);
 *   - cursors: several open at once, closed early, reads and writes while
 *     one is open;
 *   - concurrency: parallel inserts, parallel replaces of one document.
 *
 * Each failed check prints what was asked, what was expected and what came
 * back.
 */
#ifndef ASSETD_TESTS_META_CONTRACT_H
#define ASSETD_TESTS_META_CONTRACT_H

/*
 * Runs the suite against the store named by url, which must be EMPTY (a
 * fresh database, schema or collection). The suite leaves documents behind.
 * Prints "meta contract <url>: N passed, M failed" and returns M (0 when
 * every check passed).
 */
int meta_contract_run(const char *url);

#endif
