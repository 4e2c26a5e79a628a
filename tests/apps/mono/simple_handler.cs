// `--mono-handler handlers.dll:Polyhost.Tests.Hello` (built by tests/test_mono.py with mcs).
using System;
using System.Collections.Generic;
using System.IO;
using System.Security.Cryptography;
using System.Text;

namespace Polyhost.Tests {
	public static class Hello {
		public static object[] Handle(IDictionary<string, string> env, Stream body) {
			string path = env["PATH_INFO"];
			if (path == "/boom")
				throw new InvalidOperationException("boom from the simple handler");
			if (path == "/env") {
				var text = new StringBuilder();
				foreach (var pair in env)
					text.Append(pair.Key).Append('=').Append(pair.Value).Append('\n');
				return new object[] { 200, new[] { "Content-Type", "text/plain; charset=utf-8" }, text.ToString() };
			}
			if (path == "/md5") {
				using (var md5 = MD5.Create()) {
					byte[] hash = md5.ComputeHash(body);
					string hex = BitConverter.ToString(hash).Replace("-", "").ToLowerInvariant();
					return new object[] { "201 Created", new Dictionary<string, string> { { "X-Length", body.Position.ToString() } }, hex };
				}
			}
			if (path == "/stream") {
				int kib = int.Parse(env["QUERY_STRING"]);
				var data = new byte[kib * 1024];
				for (int i = 0; i < data.Length; i++)
					data[i] = (byte) (i % 251);
				return new object[] { 200, null, new MemoryStream(data) };
			}
			if (path == "/file")
				return new object[] { 200, new[] { "Content-Type", "text/plain" }, File.OpenRead(env["QUERY_STRING"]) };
			if (path == "/bytes")
				return new object[] { 200, new[] { "Content-Type", "application/octet-stream" }, new byte[] { 0, 1, 2, 255 } };
			if (path == "/api")
				return new object[] { 200, new[] { "Content-Type", "text/plain" }, string.Format("worker={0} master={1} version={2} numproc={3} processes={4}",
					uwsgi.api.WorkerId(), uwsgi.api.MasterPid(), uwsgi.api.Version(), uwsgi.api.NumProc(), uwsgi.api.Opt("processes")) };
			if (path == "/sleep") {
				System.Threading.Thread.Sleep(int.Parse(env["QUERY_STRING"]));
				return new object[] { 200, null, "slept" };
			}
			if (path == "/bad")
				return new object[] { 200, null };
			return new object[] { 200, new Dictionary<string, string> { { "Content-Type", "text/plain" } }, "Hello from .NET, " + env["REQUEST_METHOD"] + " " + path };
		}
	}
}
