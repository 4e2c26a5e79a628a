// The hello world of bench/mono_hello.py as a polyhost --mono-handler (no ASP.NET).
using System.Collections.Generic;
using System.IO;

namespace Bench {
	public static class Hello {
		static readonly string[] Headers = { "Content-Type", "text/plain" };

		public static object[] Handle(IDictionary<string, string> env, Stream body) {
			return new object[] { 200, Headers, "Hello World" };
		}
	}
}
