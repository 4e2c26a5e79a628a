// The `uwsgi.api` class that .NET application code calls (assembly "uwsgi", as uWSGI's uwsgi.dll).
//
// Process facts (WorkerId, MasterPid, Version, NumProc, Opt, RequestId) are values polyhost sets
// when a worker starts; Log goes back into polyhost through ProcessServices, an object living in
// the worker's default AppDomain that ASP.NET application domains reach by remoting. The fabric
// (RPC, cache, signals, spooler) is added to ProcessServices and to this class in one place.

using System;
using System.Collections.Generic;
using System.Threading;

[assembly: System.Reflection.AssemblyVersion("2.0.21.0")]

namespace uwsgi {

	/// <summary>Functions polyhost (Python) implements for .NET code, one per worker process.</summary>
	public sealed class ProcessServices : MarshalByRefObject {
		readonly Action<string> log;

		public ProcessServices(Action<string> log) {
			this.log = log;
		}

		public void Log(string message) {
			log(message);
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
			if (services == null)
				throw new InvalidOperationException("uwsgi.api.Log: not running inside polyhost");
			services.Log(message);
		}
	}
}
