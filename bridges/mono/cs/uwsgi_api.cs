// The `uwsgi.api` class that .NET application code calls (assembly "uwsgi", as uWSGI's uwsgi.dll).
//
// Process facts (WorkerId, MasterPid, Version, NumProc, Opt, RequestId) are values polyhost sets
// when a worker starts; Log and the fabric (RPC, cache, signals) go back into polyhost through
// ProcessServices, an object living in the worker's default AppDomain that ASP.NET application
// domains reach by remoting. Every fabric call is one `Fabric(op, args)`: polyhost's op table.

using System;
using System.Collections.Generic;
using System.Threading;

[assembly: System.Reflection.AssemblyVersion("2.0.21.0")]

namespace uwsgi {

	/// <summary>An RPC function written in .NET: strings in, a string out (uWSGI's convention).</summary>
	public delegate string RpcFunction(string[] args);

	/// <summary>A signal handler written in .NET.</summary>
	public delegate void SignalHandler(int signum);

	/// <summary>A fabric operation failed; the message says why.</summary>
	[Serializable]
	public sealed class FabricException : Exception {
		public FabricException(string message) : base(message) { }

		FabricException(System.Runtime.Serialization.SerializationInfo info,
				System.Runtime.Serialization.StreamingContext context) : base(info, context) { }
	}

	/// <summary>Functions polyhost (Python) implements for .NET code, one per worker process.</summary>
	public sealed class ProcessServices : MarshalByRefObject {
		readonly Action<string> log;
		readonly Func<string, byte[][], byte[][]> fabric;
		readonly Action<string, Delegate> registerRpc;
		readonly Action<int, string, Delegate> registerSignal;

		public ProcessServices(Action<string> log, Func<string, byte[][], byte[][]> fabric,
				Action<string, Delegate> registerRpc, Action<int, string, Delegate> registerSignal) {
			this.log = log;
			this.fabric = fabric;
			this.registerRpc = registerRpc;
			this.registerSignal = registerSignal;
		}

		public void Log(string message) {
			log(message);
		}

		public byte[][] Fabric(string op, byte[][] args) {
			try {
				return fabric(op, args);
			} catch (Exception error) {
				// the Python side's message is what the caller needs, not the interop wrapping
				throw new FabricException(error.Message);
			}
		}

		public void RegisterRpc(string name, RpcFunction function) {
			registerRpc(name, function);
		}

		public void RegisterSignal(int num, string target, SignalHandler handler) {
			registerSignal(num, target, handler);
		}

		// lives as long as the process: remoting leases must never expire
		public override object InitializeLifetimeService() {
			return null;
		}
	}

	/// <summary>uWSGI's API for .NET applications (the non-fabric part).</summary>
	public static class api {
		static ProcessServices services;
		static int workerId;
		static int masterPid;
		static int numProc;
		static string version = "";
		static Dictionary<string, string[]> options = new Dictionary<string, string[]>();
		static int requestId;

		/// <summary>Called by polyhost in every AppDomain that runs application code.</summary>
		public static void Attach(ProcessServices processServices, int worker, int master,
				string uwsgiVersion, int processes, string[] packedOptions) {
			services = processServices;
			workerId = worker;
			masterPid = master;
			version = uwsgiVersion;
			numProc = processes;
			var parsed = new Dictionary<string, List<string>>();
			for (int i = 0; i + 1 < packedOptions.Length; i += 2) {
				List<string> values;
				if (!parsed.TryGetValue(packedOptions[i], out values))
					parsed[packedOptions[i]] = values = new List<string>();
				values.Add(packedOptions[i + 1]);
			}
			var result = new Dictionary<string, string[]>();
			foreach (var pair in parsed)
				result[pair.Key] = pair.Value.ToArray();
			options = result;
		}

		/// <summary>Set by polyhost before each request (1, 2, ... per worker).</summary>
		public static void SetRequestId(int id) {
			Volatile.Write(ref requestId, id);
		}

		/// <summary>This worker's id, 1..N (0 outside a worker).</summary>
		public static int WorkerId() {
			return workerId;
		}

		/// <summary>The pid of the instance's master process.</summary>
		public static int MasterPid() {
			return masterPid;
		}

		/// <summary>The uWSGI version polyhost is compatible with, e.g. "2.0.21".</summary>
		public static string Version() {
			return version;
		}

		/// <summary>The number of worker processes of the instance.</summary>
		public static int NumProc() {
			return numProc;
		}

		/// <summary>The number of the request being served by this worker.</summary>
		public static int RequestId() {
			return Volatile.Read(ref requestId);
		}

		/// <summary>An option's value ("true" for a flag, the last one for a repeated option), or null.</summary>
		public static string Opt(string name) {
			string[] values;
			return options.TryGetValue(name, out values) ? values[values.Length - 1] : null;
		}

		/// <summary>Every value of a (repeatable) option; empty when it is not set.</summary>
		public static string[] OptList(string name) {
			string[] values;
			return options.TryGetValue(name, out values) ? (string[]) values.Clone() : new string[0];
		}

		/// <summary>Writes a line to the instance log.</summary>
		public static void Log(string message) {
			Services("Log").Log(message);
		}

		// -- the fabric ------------------------------------------------------------------------

		static ProcessServices Services(string caller) {
			if (services == null)
				throw new InvalidOperationException("uwsgi.api." + caller + ": not running inside polyhost");
			return services;
		}

		static readonly System.Text.Encoding Utf8 = new System.Text.UTF8Encoding(false);

		static byte[] B(string text) {
			return text == null ? new byte[0] : Utf8.GetBytes(text);
		}

		static byte[] B(long number) {
			return B(number.ToString(System.Globalization.CultureInfo.InvariantCulture));
		}

		static byte[][] Op(string op, params byte[][] args) {
			return Services(op).Fabric(op, args);
		}

		static bool Yes(string op, params byte[][] args) {
			byte[][] result = Op(op, args);
			return result.Length > 0 && result[0].Length == 1 && result[0][0] == (byte) '1';
		}

		/// <summary>RPC `name` on `node` ("" or null: this instance), as uWSGI's rpc.</summary>
		public static string Rpc(string node, string name, params string[] args) {
			var packed = new List<byte[]> { B(node), B(name) };
			foreach (string arg in args)
				packed.Add(B(arg));
			return Utf8.GetString(Op("rpc", packed.ToArray())[0]);
		}

		/// <summary>`name` or `name@host:port`, as uWSGI's call.</summary>
		public static string Call(string name, params string[] args) {
			var packed = new List<byte[]> { B(name) };
			foreach (string arg in args)
				packed.Add(B(arg));
			return Utf8.GetString(Op("call", packed.ToArray())[0]);
		}

		/// <summary>`function` serves the RPC `name` for every language of the instance.</summary>
		public static bool RegisterRpc(string name, RpcFunction function) {
			Services("RegisterRpc").RegisterRpc(name, function);
			return true;
		}

		/// <summary>The value, or null when the key is not in the cache.</summary>
		public static byte[] CacheGet(string key, string cache = null) {
			byte[][] found = Op("cache_get", B(key), B(cache));
			return found.Length == 0 ? null : found[0];
		}

		/// <summary>Stores the value unless the key exists (uWSGI's set); false when it could not.</summary>
		public static bool CacheSet(string key, byte[] value, long expires = 0, string cache = null) {
			return Yes("cache_set", B(key), value, B(expires), B(cache));
		}

		/// <summary>Stores the value, replacing an existing one.</summary>
		public static bool CacheUpdate(string key, byte[] value, long expires = 0, string cache = null) {
			return Yes("cache_update", B(key), value, B(expires), B(cache));
		}

		public static bool CacheDel(string key, string cache = null) {
			return Yes("cache_del", B(key), B(cache));
		}

		public static bool CacheExists(string key, string cache = null) {
			return Yes("cache_exists", B(key), B(cache));
		}

		public static void CacheClear(string cache = null) {
			Op("cache_clear", B(cache));
		}

		/// <summary>Adds `amount` to the counter and returns its new value (atomic across workers).</summary>
		public static long CacheInc(string key, long amount = 1, long expires = 0, string cache = null) {
			return long.Parse(Utf8.GetString(Op("cache_inc", B(key), B(amount), B(expires), B(cache))[0]),
				System.Globalization.CultureInfo.InvariantCulture);
		}

		public static long CacheDec(string key, long amount = 1, long expires = 0, string cache = null) {
			return long.Parse(Utf8.GetString(Op("cache_dec", B(key), B(amount), B(expires), B(cache))[0]),
				System.Globalization.CultureInfo.InvariantCulture);
		}

		/// <summary>`handler` runs when signal `num` reaches this worker; `target` as uWSGI's.</summary>
		public static bool RegisterSignal(int num, string target, SignalHandler handler) {
			Services("RegisterSignal").RegisterSignal(num, target ?? "", handler);
			return true;
		}

		public static void Signal(int num) {
			Op("signal", B(num));
		}

		public static void AddTimer(int num, int seconds, int iterations = 0) {
			Op("add_timer", B(num), B(seconds), B(iterations));
		}

		public static void AddRbTimer(int num, int seconds, int iterations = 0) {
			Op("add_rb_timer", B(num), B(seconds), B(iterations));
		}

		public static void AddCron(int num, int minute, int hour, int day, int month, int weekday) {
			Op("add_cron", B(num), B(minute), B(hour), B(day), B(month), B(weekday));
		}

		public static void AddFileMonitor(int num, string path) {
			Op("add_file_monitor", B(num), B(path));
		}
	}
}
