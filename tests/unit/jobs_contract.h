/*
 * jobs_contract.h — the contract suite of the job store port (store/jobs.h).
 *
 * Every job store adapter (local:, memory:, redis:) runs the same suite: it
 * reaches the adapter only through ad_jobs_open() and the slots of
 * ad_jobs_ops, so nothing in it knows where a store keeps its jobs.
 *
 * What it checks, in order:
 *   - create/get (duplicates, unknown ids), claim in arrival order, progress,
 *     recorded keys, finish with a reason, a requeued job back at the front
 *     (several requeued jobs keep their arrival order), list by state,
 *     finish(processing) refused, progress of an unknown job;
 *   - expire(): finished jobs go, queued and processing ones stay;
 *   - a waiting claim is woken by a create (from the other handle when the
 *     store is shared);
 *   - each job handed to exactly one claimer: 120 jobs, four threads per
 *     handle, on one handle and (shared stores) on two separately opened
 *     handles, as two assetd instances would;
 *   - leases, on a handle opened with ?visibility_timeout=2: a claimed job is
 *     not handed out while its lease runs, is handed to another claimer (the
 *     other handle when shared) once it ran out, marked recovered with the
 *     attempt counted, and the first holder's progress is then refused
 *     (AD_E_PRECONDITION); progress() renews a lease, so a job whose holder
 *     records progress well within the timeout is never handed out.
 *
 * Lease expiry is waited for with a deadline, never asserted in time.
 */
#ifndef ASSETD_TESTS_JOBS_CONTRACT_H
#define ASSETD_TESTS_JOBS_CONTRACT_H

#include <stdbool.h>

/*
 * Runs the suite against the store named by url, which must be EMPTY and
 * must accept URL parameters (visibility_timeout is appended after '?' or
 * '&'). shared: a second ad_jobs_open(url) reaches the same store (a file,
 * a server), so two handles act as two instances. The suite leaves finished
 * jobs behind. Prints "jobs contract <url>: N passed, M failed" and returns
 * M (0 when every check passed).
 */
int jobs_contract_run(const char *url, bool shared);

#endif
