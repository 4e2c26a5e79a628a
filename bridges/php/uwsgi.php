<?php
/*
 * polyhost's uwsgi_* functions for PHP scripts, loaded before every script with
 * auto_prepend_file (bridges/php/README.md). The worker passes its facts with php-cgi -d
 * settings read through get_cfg_var(); the fabric calls (signal, rpc, cache) all go through
 * polyhost_fabric_call(), the one place that speaks the bridge's CALL/RESULT packets.
 */

if (!function_exists('uwsgi_version')) {

    function uwsgi_version()
    {
        return (string) get_cfg_var('polyhost.uwsgi_version');
    }

    function uwsgi_worker_id()
    {
        return (int) get_cfg_var('polyhost.worker_id');
    }

    function uwsgi_masterpid()
    {
        return (int) get_cfg_var('polyhost.masterpid');
    }

    /* Names the php-cgi process running this script (what ps -o comm and top show). */
    function uwsgi_setprocname($name)
    {
        return @file_put_contents('/proc/self/comm', substr((string) $name, 0, 15)) !== false;
    }

    function uwsgi_signal($signum)
    {
        polyhost_fabric_call('signal', array((string) (int) $signum));
        return true;
    }

    /* uwsgi_rpc($node, $function, ...$args): an empty $node is this instance. */
    function uwsgi_rpc($node, $function, ...$args)
    {
        $result = polyhost_fabric_call('rpc', array_merge(array((string) $node,
            (string) $function), array_map('strval', $args)));
        return $result[0];
    }

    /* The value, or null when the key is not in the cache. */
    function uwsgi_cache_get($key, $cache = '')
    {
        $result = polyhost_fabric_call('cache_get', array((string) $key, (string) $cache));
        return $result ? $result[0] : null;
    }

    /* Stores the value unless the key exists (uWSGI's set); false when it could not. */
    function uwsgi_cache_set($key, $value, $expires = 0, $cache = '')
    {
        $result = polyhost_fabric_call('cache_set',
            array((string) $key, (string) $value, (string) (int) $expires, (string) $cache));
        return $result[0] === '1';
    }

    function uwsgi_cache_update($key, $value, $expires = 0, $cache = '')
    {
        $result = polyhost_fabric_call('cache_update',
            array((string) $key, (string) $value, (string) (int) $expires, (string) $cache));
        return $result[0] === '1';
    }

    function uwsgi_cache_del($key, $cache = '')
    {
        $result = polyhost_fabric_call('cache_del', array((string) $key, (string) $cache));
        return $result[0] === '1';
    }

    function uwsgi_cache_exists($key, $cache = '')
    {
        $result = polyhost_fabric_call('cache_exists', array((string) $key, (string) $cache));
        return $result[0] === '1';
    }

    /* uWSGI's metrics: the value (0 for an unknown metric) */
    function uwsgi_metric_get($name)
    {
        $result = polyhost_fabric_call('metric_get', array((string) $name));
        return (int) $result[0];
    }

    /* true once a declared metric changed, null for an unknown one (as uWSGI) */
    function polyhost_metric($op, $name, $value)
    {
        $result = polyhost_fabric_call($op, array((string) $name, $value === null ? '' : (string) (int) $value));
        return $result[0] === '1' ? true : null;
    }

    function uwsgi_metric_set($name, $value) { return polyhost_metric('metric_set', $name, $value); }
    function uwsgi_metric_inc($name, $value = null) { return polyhost_metric('metric_inc', $name, $value); }
    function uwsgi_metric_dec($name, $value = null) { return polyhost_metric('metric_dec', $name, $value); }
    function uwsgi_metric_mul($name, $value = null) { return polyhost_metric('metric_mul', $name, $value); }
    function uwsgi_metric_div($name, $value = null) { return polyhost_metric('metric_div', $name, $value); }

    /*
     * A call into the worker's fabric: a CALL packet (modifier1 210, a uwsgi array of the
     * operation and its arguments) on the unix socket the worker names in
     * polyhost.fabric_socket, answered by a RESULT (211; modifier2 1 = an error message).
     * Messages over 64 KiB are split into packets with bit 0x80 of modifier2 set on all but
     * the last (bridges/PROTOCOL.md).
     */
    function polyhost_fabric_call($op, array $args)
    {
        static $socket = null;
        if ($socket === null) {
            $path = (string) get_cfg_var('polyhost.fabric_socket');
            $socket = @stream_socket_client('unix://' . $path, $errno, $error, 5);
            if ($socket === false) {
                $socket = null;
                throw new RuntimeException("uwsgi_$op(): cannot reach the polyhost worker at $path: $error");
            }
        }
        $payload = '';
        foreach (array_merge(array($op), $args) as $item) {
            $item = (string) $item;
            $payload .= pack('v', strlen($item)) . $item;
        }
        $pieces = str_split($payload, 65535);
        $last = count($pieces) - 1;
        $packets = '';
        foreach ($pieces as $i => $piece) {
            $packets .= pack('CvC', 210, strlen($piece), $i < $last ? 0x80 : 0) . $piece;
        }
        polyhost_fabric_write($socket, $packets, $op);
        $reply = '';
        do {
            $header = unpack('Cmod1/vsize/Cmod2', polyhost_fabric_read($socket, 4, $op));
            $reply .= $header['size'] ? polyhost_fabric_read($socket, $header['size'], $op) : '';
        } while ($header['mod2'] & 0x80);
        $items = array();
        for ($pos = 0; $pos < strlen($reply); $pos += 2 + $length) {
            $length = unpack('v', substr($reply, $pos, 2))[1];
            $items[] = (string) substr($reply, $pos + 2, $length);
        }
        if ($header['mod2'] & 1) {
            throw new RuntimeException("uwsgi_$op(): " . ($items ? $items[0] : 'failed'));
        }
        return $items;
    }

    function polyhost_fabric_write($socket, $data, $op)
    {
        while ($data !== '') {
            $written = fwrite($socket, $data);
            if ($written === false || $written === 0) {
                throw new RuntimeException("uwsgi_$op(): the polyhost worker closed the fabric socket");
            }
            $data = (string) substr($data, $written);
        }
    }

    function polyhost_fabric_read($socket, $size, $op)
    {
        $data = '';
        while (strlen($data) < $size) {
            $piece = fread($socket, $size - strlen($data));
            if ($piece === false || $piece === '') {
                throw new RuntimeException("uwsgi_$op(): the polyhost worker closed the fabric socket");
            }
            $data .= $piece;
        }
        return $data;
    }
}

if (!class_exists('PolyhostCacheSessionHandler')) {
    /*
     * session.save_handler = uwsgi (uWSGI >= 2.0.4): sessions kept in the cache that
     * session.save_path names ("mysessions", or "name@host:port" for a remote one), keyed by
     * the session id. Items expire after session.gc_maxlifetime (uWSGI's never expire).
     */
    class PolyhostCacheSessionHandler implements SessionHandlerInterface
    {
        private $cache = '';

        public function open($path, $name): bool
        {
            $this->cache = (string) $path;
            return true;
        }

        public function close(): bool
        {
            return true;
        }

        public function read($id): string|false
        {
            return (string) uwsgi_cache_get($id, $this->cache);
        }

        public function write($id, $data): bool
        {
            $expires = (int) ini_get('session.gc_maxlifetime');
            return uwsgi_cache_update($id, $data, $expires, $this->cache);
        }

        public function destroy($id): bool
        {
            return !uwsgi_cache_exists($id, $this->cache) || uwsgi_cache_del($id, $this->cache);
        }

        public function gc($max_lifetime): int|false
        {
            return 0; // the cache expires items itself
        }
    }
}

if (ini_get('session.save_handler') === 'uwsgi') {
    session_set_save_handler(new PolyhostCacheSessionHandler(), true);
}

$polyhost_user_prepend = (string) get_cfg_var('polyhost.user_prepend');
if ($polyhost_user_prepend !== '') {
    require $polyhost_user_prepend;
}
unset($polyhost_user_prepend);
