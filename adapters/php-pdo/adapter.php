<?php
// repro adapter: PHP 8.2 long-running workers over PDO MySQL (or mysqli), the queue-worker pattern, driven as
// docs/adapters.md describes. PDO has no pool: poolSize worker processes (worker.php), each with one connection of
// its own kept for its life, as N `queue:work` processes or PHP-FPM children hold theirs. This process speaks the
// protocol on stdin/stdout and hands each operation (a job) to a free worker; a job hanging on a dead socket occupies
// only its worker. Workers stay in this process group (proc_open, no shell), so a freeze stops them with it.

declare(strict_types=1);

const OPTIONS = [
    'PDO::ATTR_PERSISTENT' => ['bool', 'persistent connection (PDO::ATTR_PERSISTENT; mysqli: the p: host prefix): kept in the worker process across new PDO objects, checked with a ping when reused (default: false)'],
    'PDO::ATTR_TIMEOUT' => ['int', 'connect timeout in seconds (PDO::ATTR_TIMEOUT; mysqli: MYSQLI_OPT_CONNECT_TIMEOUT) (default: mysqlnd.net_read_timeout\'s connect default, 60 s)'],
    'mysqlnd.net_read_timeout' => ['int', 'seconds mysqlnd waits for the server on a read (ini) (default: 86400)'],
    'default_socket_timeout' => ['int', 'seconds of PHP streams\' socket timeout (ini) (default: 60)'],
    'app.driver' => ['api', 'pdo or mysqli: which PHP MySQL API the worker uses (default: pdo)'],
    'app.reconnectOnLostConnection' => ['bool', 'when a query fails with a lost-connection message (server has gone away, Lost connection, Error while sending, ...), make a new connection and run the job once more, as Laravel\'s DetectsLostConnections does (default: false)'],
    'app.followUp' => ['sql', 'SQL sent on the same connection right after a failed query, before the job ends, e.g. ROLLBACK (default: none)'],
];

function emit(array $message): void
{
    $line = json_encode($message, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_INVALID_UTF8_SUBSTITUTE | JSON_PRESERVE_ZERO_FRACTION) . "\n";
    for ($written = 0; $written < strlen($line);) {
        $n = fwrite(STDOUT, substr($line, $written));
        if ($n === false || $n === 0) {
            exit(0);
        }
        $written += $n;
    }
    fflush(STDOUT);
}

function usage(int|null $id, string $message): void
{
    emit(['id' => $id, 'ok' => false, 'error' => ['usage' => true, 'message' => $message]]);
}

function parse_option(string $key, string $raw)
{
    [$type] = OPTIONS[$key];
    switch ($type) {
        case 'bool':
            $low = strtolower(trim($raw));
            if (in_array($low, ['true', '1', 'yes', 'on'], true)) return true;
            if (in_array($low, ['false', '0', 'no', 'off'], true)) return false;
            throw new InvalidArgumentException('expected true or false');
        case 'int':
            if (!preg_match('/^\d+$/', trim($raw))) throw new InvalidArgumentException('expected whole seconds >= 0');
            return (int) $raw;
        case 'api':
            if (!in_array($raw, ['pdo', 'mysqli'], true)) throw new InvalidArgumentException('expected pdo or mysqli');
            return $raw;
        default:
            return $raw;
    }
}

/** A worker process: its pipes, what it is doing, the jobs only it may take, the end of a partial line. */
final class Worker
{
    public $process;
    public $in;
    public $out;
    public string $buffer = '';
    public ?array $job = null;
    public array $own = [];
    /** When it last became free (hrtime): the longest-waiting free worker takes the next job. */
    public int $idleSince = 0;
    public bool $dead = false;
}

final class Adapter
{
    /** @var Worker[] */
    public array $workers = [];
    public ?Worker $held = null;
    public array $queue = [];  // jobs any free worker takes, in order
    public ?array $config = null;
    public int $nextJob = 1;
    public array $callbacks = [];
    public ?array $batch = null;  // the armed batch: due, count, sql, results, collect id
    public string $input = '';

    public function spawn(): Worker
    {
        $w = new Worker();
        $w->process = proc_open([PHP_BINARY, '-d', 'display_errors=stderr', __DIR__ . '/worker.php'],
            [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => STDERR], $pipes);
        if (!is_resource($w->process)) {
            fwrite(STDERR, "php-pdo adapter: cannot start a worker process\n");
            exit(1);
        }
        [$w->in, $w->out] = [$pipes[0], $pipes[1]];
        stream_set_blocking($w->out, false);
        fwrite($w->in, json_encode($this->config, JSON_UNESCAPED_SLASHES) . "\n");  // the password, on the pipe only
        fflush($w->in);
        return $w;
    }

    /** Queues a job (on `worker` only, or any free one); `done` gets the worker's answer. */
    public function submit(array $job, callable $done, ?Worker $worker = null): void
    {
        $job['job'] = $this->nextJob++;
        $this->callbacks[$job['job']] = $done;
        if ($worker !== null) {
            $worker->own[] = $job;
        } else {
            $this->queue[] = $job;
        }
        $this->dispatch();
    }

    public function dispatch(): void
    {
        // As a queue (Redis BLPOP, a database queue polled in turn) serves its blocked workers: the one that has
        // waited longest first.
        $all = array_merge($this->workers, $this->held ? [$this->held] : []);
        usort($all, fn(Worker $a, Worker $b) => $a->idleSince <=> $b->idleSince);
        foreach ($all as $w) {
            if ($w->job !== null || $w->dead) continue;
            if ($w->own) {
                $w->job = array_shift($w->own);
            } elseif ($w !== $this->held && $this->queue) {
                $w->job = array_shift($this->queue);
            } else {
                continue;
            }
            fwrite($w->in, json_encode($w->job, JSON_UNESCAPED_SLASHES) . "\n");
            fflush($w->in);
        }
    }

    /** A line from a worker: an event (forwarded), or its job's answer. */
    public function fromWorker(Worker $w, string $line): void
    {
        $message = json_decode($line, true);
        if (!is_array($message)) return;
        if (isset($message['event'])) {
            emit($message + ['worker' => $this->index($w)]);
            return;
        }
        $id = $message['job'] ?? null;
        unset($message['job']);
        $w->job = null;
        $w->idleSince = hrtime(true);
        $done = $this->callbacks[$id] ?? null;
        unset($this->callbacks[$id]);
        if ($done) $done($message);
        $this->dispatch();
    }

    public function index(Worker $w): string
    {
        $i = array_search($w, $this->workers, true);
        return $i === false ? 'held' : (string) $i;
    }

    public function workerDied(Worker $w): void
    {
        $w->dead = true;
        $job = $w->job;
        $w->job = null;
        if ($job !== null) {
            $this->fromWorker($w, json_encode(['job' => $job['job'], 'ok' => false, 'ms' => 0,
                'error' => ['class' => 'WorkerExit', 'code' => null, 'errno' => null, 'sqlState' => null,
                    'message' => 'the worker process exited during the job', 'fatal' => null, 'phase' => null]]));
        }
    }

    public function handle(array $req): void
    {
        $id = $req['id'] ?? null;
        $op = $req['op'] ?? null;
        $ok = fn(array $fields = []) => emit(['id' => $id, 'ok' => true] + $fields);
        if ($op === 'hello') {
            $ok(['protocol' => 1, 'driver' => 'pdo_mysql', 'driverVersion' => phpversion('pdo_mysql') ?: 'unknown',
                'pool' => 'PHP worker processes, one connection each (no pool)', 'poolVersion' => PHP_VERSION,
                'runtime' => 'php', 'runtimeVersion' => PHP_VERSION,
                'mysqliVersion' => phpversion('mysqli') ?: null,
                'clientLibrary' => function_exists('mysqli_get_client_info') ? mysqli_get_client_info() : null,
                'options' => array_map(fn($o) => $o[1], OPTIONS)]);
            return;
        }
        if ($op === 'open') {
            if ($this->config !== null) {
                usage($id, 'already open');
                return;
            }
            $values = [];
            foreach (($req['options'] ?? []) ?: [] as $key => $raw) {
                if (!isset(OPTIONS[$key])) {
                    $known = array_keys(OPTIONS);
                    sort($known);
                    usage($id, "unknown option '$key': known options are " . implode(', ', $known));
                    return;
                }
                try {
                    $values[$key] = parse_option($key, (string) $raw);
                } catch (InvalidArgumentException $e) {
                    usage($id, "option $key: cannot parse '$raw': " . $e->getMessage());
                    return;
                }
            }
            $ini = [];
            foreach (['mysqlnd.net_read_timeout', 'default_socket_timeout'] as $key) {
                if (isset($values[$key])) $ini[$key] = $values[$key];
            }
            $this->config = [
                'api' => $values['app.driver'] ?? 'pdo', 'persistent' => $values['PDO::ATTR_PERSISTENT'] ?? false,
                'timeout' => $values['PDO::ATTR_TIMEOUT'] ?? null, 'ini' => (object) $ini,
                'reconnect' => $values['app.reconnectOnLostConnection'] ?? false,
                'followUp' => $values['app.followUp'] ?? null,
                'host' => (string) $req['host'], 'port' => (int) $req['port'], 'user' => (string) $req['user'],
                'password' => (string) ($req['password'] ?? ''), 'database' => $req['database'] ?? null,
                'initSql' => array_values($req['initSql'] ?? []),
            ];
            for ($i = 0; $i < max(1, (int) $req['poolSize']); $i++) $this->workers[] = $this->spawn();
            $ok();
            return;
        }
        if ($this->config === null && $op !== 'close') {
            usage($id, 'pool is not open: send open first');
            return;
        }
        switch ($op) {
            case 'warm':
                $count = (int) $req['count'];
                if ($count > count($this->workers)) {
                    usage($id, "warm: count $count is more than the " . count($this->workers) . ' worker processes');
                    return;
                }
                $ids = [];
                $left = $count;
                if ($count === 0) $ok(['threadIds' => []]);
                for ($i = 0; $i < $count; $i++) {
                    $this->submit(['op' => 'connectionId'], function ($answer) use (&$ids, &$left, $i, $id, $ok) {
                        if (!($answer['ok'] ?? false)) {
                            if ($left > 0) emit(['id' => $id, 'ok' => false, 'error' => $answer['error']]);
                            $left = -1;
                            return;
                        }
                        $ids[$i] = $answer['threadId'];
                        if (--$left === 0) {
                            ksort($ids);
                            $ok(['threadIds' => array_values($ids)]);
                        }
                    }, $this->workers[$i]);
                }
                return;
            case 'run':
                $worker = null;
                if (!empty($req['held'])) {
                    if ($this->held === null) {
                        usage($id, 'no held connection: send hold first');
                        return;
                    }
                    $worker = $this->held;
                }
                $this->submit(['op' => 'run', 'sql' => (string) $req['sql']], fn($answer) => emit(['id' => $id] + $answer), $worker);
                return;
            case 'hold':
                $this->held ??= $this->spawn();
                $this->submit(['op' => 'connectionId'], function ($answer) use ($id, $ok) {
                    if ($answer['ok'] ?? false) {
                        $ok(['threadId' => $answer['threadId']]);
                    } else {
                        emit(['id' => $id, 'ok' => false, 'error' => $answer['error']]);
                    }
                }, $this->held);
                return;
            case 'busy':
                $count = (int) $req['count'];
                $results = [];
                $left = $count;
                if ($count === 0) $ok(['results' => []]);
                for ($i = 0; $i < $count; $i++) {
                    $this->submit(['op' => 'run', 'sql' => (string) $req['sql']], function ($answer) use (&$results, &$left, $i, $ok) {
                        $results[$i] = $answer;
                        if (--$left === 0) {
                            ksort($results);
                            $ok(['results' => array_values($results)]);
                        }
                    });
                }
                return;
            case 'arm':
                $count = $req['count'] ?? null;
                $delay = $req['delayMs'] ?? 0;
                if (!is_int($count) || $count < 0 || !(is_int($delay) || is_float($delay)) || $delay < 0) {
                    usage($id, 'arm: count and delayMs must be integers >= 0');
                    return;
                }
                if (!is_string($req['sql'] ?? null)) {
                    usage($id, "arm: 'sql' must be a string");
                    return;
                }
                if ($this->batch !== null) {
                    usage($id, 'a batch is already armed: send collect first');
                    return;
                }
                // The timer is set before the answer is written: repro may stop this process group right after.
                $this->batch = ['due' => hrtime(true) + (int) ($delay * 1e6), 'count' => $count, 'sql' => $req['sql'],
                    'results' => [], 'started' => false, 'collect' => null];
                $ok();
                if ($delay <= 0) $this->fire();
                return;
            case 'collect':
                if ($this->batch === null) {
                    usage($id, 'nothing armed: send arm first');
                    return;
                }
                $this->batch['collect'] = $id;
                $this->finishBatch();
                return;
            case 'close':
                $this->shutdown(1.0);
                $ok();
                return;
            default:
                usage($id, "unknown op '$op': known ops are hello, open, warm, run, hold, busy, arm, collect, close");
        }
    }

    /** The armed batch's timer fired: its operations run one after another, each a job as run's. */
    public function fire(): void
    {
        if ($this->batch === null || $this->batch['started']) return;
        $this->batch['started'] = true;
        $this->next();
    }

    private function next(): void
    {
        if (count($this->batch['results']) >= $this->batch['count']) {
            $this->batch['done'] = true;
            $this->finishBatch();
            return;
        }
        $this->submit(['op' => 'run', 'sql' => $this->batch['sql']], function ($answer) {
            $this->batch['results'][] = $answer;
            $this->next();
        });
    }

    private function finishBatch(): void
    {
        if ($this->batch === null || empty($this->batch['done']) || $this->batch['collect'] === null) return;
        $id = $this->batch['collect'];
        $results = $this->batch['results'];
        $this->batch = null;
        emit(['id' => $id, 'ok' => true, 'results' => $results]);
    }

    /** Seconds until the armed timer is due (null: none armed). */
    public function timeout(): ?float
    {
        if ($this->batch === null || $this->batch['started']) return null;
        return max(0.0, ($this->batch['due'] - hrtime(true)) / 1e9);
    }

    /** Asks every worker to quit, waits up to `wait` seconds, then kills what is left. */
    public function shutdown(float $wait): void
    {
        $all = array_merge($this->workers, $this->held ? [$this->held] : []);
        foreach ($all as $w) {
            if (!$w->dead) {
                @fwrite($w->in, "{\"op\":\"quit\"}\n");
                @fclose($w->in);
            }
        }
        $deadline = microtime(true) + $wait;
        foreach ($all as $w) {
            while (proc_get_status($w->process)['running'] && microtime(true) < $deadline) usleep(10000);
            if (proc_get_status($w->process)['running']) proc_terminate($w->process, 9);
            $w->dead = true;
        }
        $this->workers = [];
        $this->held = null;
    }
}

$adapter = new Adapter();
stream_set_blocking(STDIN, false);
while (true) {
    $read = [STDIN];
    $byStream = [];
    foreach (array_merge($adapter->workers, $adapter->held ? [$adapter->held] : []) as $w) {
        if (!$w->dead) {
            $read[] = $w->out;
            $byStream[(int) $w->out] = $w;
        }
    }
    $write = $except = null;
    $timeout = $adapter->timeout();
    $seconds = $timeout === null ? null : (int) floor($timeout);
    $micros = $timeout === null ? 0 : (int) (($timeout - floor($timeout)) * 1e6);
    $ready = @stream_select($read, $write, $except, $seconds, $micros);
    if ($ready === false) {
        continue;  // interrupted (SIGCONT after a freeze): look again
    }
    // Overdue timers and readable sockets are seen together after a resume: the timer's work starts first here,
    // as a worker loop that checks its schedule before its sockets does.
    if ($adapter->timeout() === 0.0) {
        $adapter->fire();
    }
    foreach ($read as $stream) {
        if ($stream === STDIN) {
            $chunk = fread(STDIN, 65536);
            if ($chunk === '' || $chunk === false) {
                if (feof(STDIN)) {
                    $adapter->shutdown(0.5);
                    exit(0);
                }
                continue;
            }
            $adapter->input .= $chunk;
            while (($nl = strpos($adapter->input, "\n")) !== false) {
                $line = substr($adapter->input, 0, $nl);
                $adapter->input = substr($adapter->input, $nl + 1);
                if (trim($line) === '') continue;
                $req = json_decode($line, true);
                if (!is_array($req)) {
                    fwrite(STDERR, "php-pdo adapter: request is not JSON\n");
                    continue;
                }
                $adapter->handle($req);
            }
            continue;
        }
        $w = $byStream[(int) $stream];
        $chunk = fread($stream, 65536);
        if ($chunk === '' || $chunk === false) {
            if (feof($stream)) $adapter->workerDied($w);
            continue;
        }
        $w->buffer .= $chunk;
        while (($nl = strpos($w->buffer, "\n")) !== false) {
            $line = substr($w->buffer, 0, $nl);
            $w->buffer = substr($w->buffer, $nl + 1);
            $adapter->fromWorker($w, $line);
        }
    }
}
