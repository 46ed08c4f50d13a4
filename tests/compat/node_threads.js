/*
 * Node's threads: libuv's thread pool (UV_THREADPOOL_SIZE, set by the
 * caller, 64 in scripts/compat) runs JOBS pbkdf2 hashes and file reads at
 * once, and WORKERS worker_threads (each a pthread with its own V8
 * isolate) sum ranges, meet on a SharedArrayBuffer with Atomics.wait and
 * Atomics.notify, and post their results back.  Every figure is checked:
 * each pool hash against the same hash computed synchronously, each
 * worker's sum against its closed form.  The RESULT line ends in OK only
 * when all match.
 *
 * Usage: node node_threads.js [JOBS [WORKERS]]
 */
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');

if (!isMainThread) {
    const { id, n, shared } = workerData;
    const flags = new Int32Array(shared);
    let sum = 0n;
    for (let i = 0n; i < BigInt(n); i++)
        sum += i * BigInt(id + 1);
    /* everyone arrives, the last one wakes the others */
    if (Atomics.add(flags, 0, 1) + 1 === flags[1]) {
        Atomics.store(flags, 2, 1);
        Atomics.notify(flags, 2);
    } else {
        while (Atomics.load(flags, 2) === 0)
            Atomics.wait(flags, 2, 0, 10000);
    }
    parentPort.postMessage({ id, sum: sum.toString() });
    return;
}

const jobs = Number(process.argv[2] || 256);
const workers = Number(process.argv[3] || 16);
const n = 200000;

async function pool() {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gmp-node-'));
    const want = [];
    const got = [];
    for (let i = 0; i < jobs; i++) {
        const salt = 'salt' + i;
        want.push(crypto.pbkdf2Sync('password' + i, salt, 2000, 32, 'sha256').toString('hex'));
        fs.writeFileSync(path.join(tmp, 'f' + i), 'file ' + i + '\n'.repeat(i % 50));
    }
    await Promise.all(Array.from({ length: jobs }, (_, i) => Promise.all([
        new Promise((res, rej) => crypto.pbkdf2('password' + i, 'salt' + i, 2000, 32, 'sha256',
            (e, k) => e ? rej(e) : res(k.toString('hex')))),
        fs.promises.readFile(path.join(tmp, 'f' + i), 'utf8'),
    ]).then(([h, text]) => { got[i] = [h, text]; })));
    let ok = true;
    for (let i = 0; i < jobs; i++)
        ok = ok && got[i][0] === want[i] && got[i][1] === 'file ' + i + '\n'.repeat(i % 50);
    fs.rmSync(tmp, { recursive: true, force: true });
    return ok;
}

function threads() {
    const shared = new SharedArrayBuffer(12);
    new Int32Array(shared)[1] = workers;
    return Promise.all(Array.from({ length: workers }, (_, id) => new Promise((res, rej) => {
        const w = new Worker(__filename, { workerData: { id, n, shared } });
        w.on('message', res);
        w.on('error', rej);
    }))).then((rs) => {
        const base = BigInt(n) * BigInt(n - 1) / 2n;
        return rs.every((r) => BigInt(r.sum) === base * BigInt(r.id + 1));
    });
}

(async () => {
    const poolOk = await pool();
    const threadsOk = await threads();
    const ok = poolOk && threadsOk;
    console.log(`RESULT node_threads jobs=${jobs} workers=${workers} pool=${poolOk} workers_ok=${threadsOk} ${ok ? 'OK' : 'WRONG'}`);
    process.exit(ok ? 0 : 1);
})().catch((e) => { console.error(e); process.exit(1); });
