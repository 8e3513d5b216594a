<?php
// One PHP worker process of the php-pdo adapter: a queue worker with ONE database connection, made at its first
// job and kept for the worker's life, as `php artisan queue:work` and other long-running PHP workers keep theirs.
// Reads one JSON line per job on stdin from adapter.php (the first line is its configuration, with the password),
// answers one JSON line per job on stdout; PHP warnings become event lines. Nothing is written anywhere else.

declare(strict_types=1);

const LOST_PHRASES = [
    // What a worker that "reconnects on a lost connection" looks for in the message (the approach of Laravel's
    // DetectsLostConnections; this list is repro's own, of the MySQL texts).
    'server has gone away', 'Lost connection', 'Error while sending', 'is dead or not enabled',
    'no connection to the server', 'Connection refused', 'reset by peer', 'Broken pipe', 'Error while reading',
    'Packets out of order', 'Connection timed out',
];

function out(array $message): void
{
    fwrite(STDOUT, json_encode($message, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_INVALID_UTF8_SUBSTITUTE) . "\n");
    fflush(STDOUT);
}

// mysqlnd's warnings (e.g. "PDO::query(): Error while sending QUERY packet. PID=123") reach the application's
// error handler before the exception: forwarded verbatim as events.
set_error_handler(function (int $errno, string $message): bool {
    out(['event' => 'php-warning', 'message' => $message, 'errno' => $errno]);
    return true;
});

$config = json_decode((string) fgets(STDIN), true);
if (!is_array($config)) {
    exit(1);
}
$api = $config['api'];
$persistent = $config['persistent'];
foreach ($config['ini'] as $key => $value) {
    ini_set($key, (string) $value);
}
$connection = null;

function connect(array $config)
{
    if ($config['api'] === 'mysqli') {
        mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);
        $m = mysqli_init();
        if ($config['timeout'] !== null) {
            $m->options(MYSQLI_OPT_CONNECT_TIMEOUT, $config['timeout']);
        }
        $host = ($config['persistent'] ? 'p:' : '') . $config['host'];
        $m->real_connect($host, $config['user'], $config['password'], $config['database'], $config['port']);
        foreach ($config['initSql'] as $sql) {
            $m->query($sql);
        }
        return $m;
    }
    $dsn = "mysql:host={$config['host']};port={$config['port']}" . ($config['database'] !== null ? ";dbname={$config['database']}" : '');
    $attributes = [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION, PDO::ATTR_PERSISTENT => $config['persistent']];
    if ($config['timeout'] !== null) {
        $attributes[PDO::ATTR_TIMEOUT] = $config['timeout'];
    }
    $pdo = new PDO($dsn, $config['user'], $config['password'], $attributes);
    foreach ($config['initSql'] as $sql) {
        $pdo->exec($sql);
    }
    return $pdo;
}

function query($connection, string $sql): array
{
    if ($connection instanceof mysqli) {
        $result = $connection->query($sql);
        return $result instanceof mysqli_result ? $result->fetch_all() : [];
    }
    $statement = $connection->query($sql);
    return $statement->fetchAll();
}

/** The error as the worker caught it, verbatim. */
function error_object(Throwable $e, string $phase): array
{
    $errno = null;
    $sqlState = null;
    if ($e instanceof PDOException) {
        $info = $e->errorInfo;
        if (is_array($info) && count($info) >= 2) {
            $sqlState = is_string($info[0]) ? $info[0] : null;
            $errno = is_int($info[1]) ? $info[1] : null;
        } elseif (is_int($e->getCode())) {
            $errno = $e->getCode();  // a connect error: getCode() is the MySQL error number
        }
        if ($sqlState === null && preg_match('/^SQLSTATE\[(\w+)\]/', $e->getMessage(), $m)) {
            $sqlState = $m[1];
        }
    } elseif ($e instanceof mysqli_sql_exception) {
        $errno = $e->getCode();
        $sqlState = $e->getSqlState();
    }
    $err = [
        'class' => get_class($e), 'code' => null, 'errno' => $errno, 'sqlState' => $sqlState,
        'message' => $e->getMessage(), 'fatal' => null, 'phase' => $phase,
    ];
    if ($e->getPrevious() !== null) {
        $err['cause'] = $e->getPrevious()->getMessage();
    }
    return $err;
}

function is_lost(Throwable $e): bool
{
    foreach (LOST_PHRASES as $phrase) {
        if (stripos($e->getMessage(), $phrase) !== false) {
            return true;
        }
    }
    return false;
}

while (($line = fgets(STDIN)) !== false) {
    $job = json_decode($line, true);
    if (!is_array($job)) {
        continue;
    }
    if ($job['op'] === 'quit') {
        break;
    }
    $started = hrtime(true);
    $ms = fn() => round((hrtime(true) - $started) / 1e6, 3);
    $sql = $job['op'] === 'connectionId' ? 'SELECT CONNECTION_ID()' : $job['sql'];
    $handled = [];
    $answer = null;
    for ($attempt = 0; $answer === null; $attempt++) {
        if ($connection === null) {
            try {
                $connection = connect($config);
            } catch (Throwable $e) {
                $answer = ['ok' => false, 'ms' => $ms(), 'error' => error_object($e, 'acquire')];
                break;
            }
        }
        try {
            $rows = query($connection, $sql);
            $answer = ['ok' => true, 'ms' => $ms()];
            if ($job['op'] === 'connectionId') {
                $answer['threadId'] = (int) ($rows[0][0] ?? $rows[0]['CONNECTION_ID()'] ?? 0);
            }
        } catch (Throwable $e) {
            if ($config['reconnect'] && $attempt === 0 && is_lost($e)) {
                // Laravel's tryAgainIfCausedByLostConnection: drop the connection, make a new one, run it again.
                $handled[] = ['by' => 'retry', 'error' => error_object($e, 'query')];
                $connection = null;
                continue;
            }
            $answer = ['ok' => false, 'ms' => $ms(), 'error' => error_object($e, 'query')];
            if ($config['followUp'] !== null) {
                try {
                    query($connection, $config['followUp']);
                    $answer['followUp'] = ['ok' => true];
                } catch (Throwable $f) {
                    $answer['followUp'] = ['ok' => false, 'error' => error_object($f, 'follow-up')];
                }
            }
        }
    }
    if ($handled) {
        $answer['handled'] = $handled;
    }
    out(['job' => $job['job']] + $answer);
}
