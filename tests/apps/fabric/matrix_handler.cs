// The C# corner of the cross-language fabric tests: `--mount /cs=matrix.dll:Polyhost.Tests.FabricMatrix`
// (built by tests/test_fabric_languages.py with mcs against polyhost's uwsgi.dll).
using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;

namespace Polyhost.Tests {
	public static class FabricMatrix {
		static readonly string Markers = Environment.GetEnvironmentVariable("MARKER_DIR");

		static FabricMatrix() {
			uwsgi.api.RegisterRpc("cs_echo", args => "cs:" + args[0]);
			uwsgi.api.RegisterRpc("cs_relay", args => "cs>" + uwsgi.api.Call(args[0], args.Skip(1).ToArray()));
			uwsgi.api.RegisterSignal(47, "workers", num =>
				File.WriteAllText(Path.Combine(Markers, "cs-sig" + num + "-w" + uwsgi.api.WorkerId()), "cs"));
		}

		static Dictionary<string, string> Query(string text) {
			var query = new Dictionary<string, string>();
			foreach (string pair in (text ?? "").Split(new[] { '&' }, StringSplitOptions.RemoveEmptyEntries)) {
				int eq = pair.IndexOf('=');
				query[eq < 0 ? pair : pair.Substring(0, eq)] = eq < 0 ? "" : Uri.UnescapeDataString(pair.Substring(eq + 1));
			}
			return query;
		}

		public static object[] Handle(IDictionary<string, string> env, Stream body) {
			var q = Query(env["QUERY_STRING"]);
			string text;
			switch (env["PATH_INFO"]) {
			case "/call":
				string[] args = q.ContainsKey("args") && q["args"].Length > 0 ? q["args"].Split(',') : new string[0];
				text = uwsgi.api.Call(q["fn"], args);
				break;
			case "/cache_set":
				text = uwsgi.api.CacheUpdate(q["k"], Encoding.UTF8.GetBytes(q["v"]), 0, "shared").ToString();
				break;
			case "/cache_get":
				byte[] value = uwsgi.api.CacheGet(q["k"], "shared");
				text = value == null ? "MISS" : Encoding.UTF8.GetString(value);
				break;
			case "/cache_inc":
				text = uwsgi.api.CacheInc(q["k"], 1, 0, "shared").ToString();
				break;
			case "/signal":
				uwsgi.api.Signal(int.Parse(q["num"]));
				text = "raised";
				break;
			default:
				text = "csharp";
				break;
			}
			return new object[] { 200, new[] { "Content-Type", "text/plain" }, text };
		}
	}
}
