// polyhost-mono.dll: the .NET side of polyhost's Mono runtime (bridges/mono/adapter.py).
//
// Python calls in with one string of packed uwsgi vars ("KEY\0value\0KEY\0value") and a pointer to
// the request body bytes it already holds; the answer comes back as one byte[]:
//   byte 0: bit 1 = a status line and headers follow ("200 OK\r\nName: value\r\n...\r\n"),
//           bit 2 = the application threw (already logged with its .NET stack trace);
//   then the (rest of the) body.
// Bodies that do not fit in memory go out earlier through RequestChannel.Send (same format) and
// RequestChannel.SendFile; a large request body is read on demand through RequestChannel.Read.

using System;
using System.Collections.Generic;
using System.IO;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using uwsgi;

namespace Polyhost.Mono {

	/// <summary>The request/response I/O of the current request, implemented by polyhost (Python).</summary>
	public sealed class RequestChannel : MarshalByRefObject {
		readonly Action<byte[]> send;
		readonly Func<long, int, int> readInto;
		readonly Action<string, long, long> sendFile;
		readonly Action<string> log;

		public RequestChannel(Action<byte[]> send, Func<long, int, int> readInto,
				Action<string, long, long> sendFile, Action<string> log) {
			this.send = send;
			this.readInto = readInto;
			this.sendFile = sendFile;
			this.log = log;
		}

		/// <summary>Writes a packed piece of the response (see the file header) to the client now.</summary>
		public void Send(byte[] packed) {
			send(packed);
		}

		/// <summary>Reads up to `size` bytes of the request body (an empty array at its end).</summary>
		public byte[] Read(int size) {
			var buffer = new byte[size];
			var pin = GCHandle.Alloc(buffer, GCHandleType.Pinned);
			int count;
			try {
				count = readInto(pin.AddrOfPinnedObject().ToInt64(), size);
			} finally {
				pin.Free();
			}
			if (count == size)
				return buffer;
			var result = new byte[count];
			Buffer.BlockCopy(buffer, 0, result, 0, count);
			return result;
		}

		/// <summary>Sends part of a file as response body (with sendfile where the transport allows).</summary>
		public void SendFile(string path, long offset, long length) {
			sendFile(path, offset, length);
		}

		public void Log(string message) {
			log(message);
		}

		public override object InitializeLifetimeService() {
			return null;
		}
	}

	/// <summary>Entry points Python calls once per worker, and helpers shared by both hosts.</summary>
	public static class Bridge {
		public static RequestChannel Channel { get; private set; }
		public static ProcessServices Services { get; private set; }
		public static int WorkerId { get; private set; }
		public static int MasterPid { get; private set; }
		public static string Version { get; private set; }
		public static int NumProc { get; private set; }
		public static string[] Options { get; private set; }

		/// <summary>Wires the Python callbacks and the uwsgi.api values of this worker.</summary>
		public static void Start(Action<byte[]> send, Func<long, int, int> readInto,
				Action<string, long, long> sendFile, Action<string> log,
				Func<string, byte[][], byte[][]> fabric, Action<string, Delegate> registerRpc,
				Action<int, string, Delegate> registerSignal, int workerId, int masterPid,
				string version, int numProc, string packedOptions) {
			Channel = new RequestChannel(send, readInto, sendFile, log);
			Services = new ProcessServices(log, fabric, registerRpc, registerSignal);
			WorkerId = workerId;
			MasterPid = masterPid;
			Version = version;
			NumProc = numProc;
			Options = packedOptions.Length == 0 ? new string[0] : packedOptions.Split('\0');
			api.Attach(Services, workerId, masterPid, version, numProc, Options);
		}

		/// <summary>polyhost calls a registered RPC function (a uwsgi.RpcFunction) through here.</summary>
		public static string InvokeRpc(Delegate function, string[] args) {
			return ((RpcFunction) function)(args);
		}

		/// <summary>polyhost runs a registered signal handler (a uwsgi.SignalHandler) through here.</summary>
		public static void InvokeSignal(Delegate handler, int signum) {
			((SignalHandler) handler)(signum);
		}

		/// <summary>Copies `length` bytes at a native address (Python's bytes buffer) into an array.</summary>
		public static byte[] Copy(long address, int length) {
			var data = new byte[length];
			if (length > 0)
				Marshal.Copy(new IntPtr(address), data, 0, length);
			return data;
		}

		/// <summary>Logs an exception from application code with its .NET stack trace.</summary>
		public static void LogException(RequestChannel channel, string where, Exception error) {
			channel.Log(where + ": " + error);
		}
	}

	/// <summary>uwsgi vars as a dictionary; values that are UTF-8 (sent as latin-1 by the worker) become text.</summary>
	public static class Vars {
		static readonly Encoding Latin1 = Encoding.GetEncoding(28591);
		static readonly Encoding StrictUtf8 = new UTF8Encoding(false, true);

		public static Dictionary<string, string> Parse(string packed) {
			var vars = new Dictionary<string, string>(64, StringComparer.Ordinal);
			if (packed.Length == 0)
				return vars;
			string[] parts = packed.Split('\0');
			if (parts.Length % 2 != 0)
				throw new ArgumentException("packed uwsgi vars have an odd number of fields (a NUL inside a value?)");
			for (int i = 0; i < parts.Length; i += 2)
				vars[parts[i]] = Text(parts[i + 1]);
			return vars;
		}

		/// <summary>A latin-1 decoded value as the text its bytes spell in UTF-8 (unchanged if not UTF-8).</summary>
		public static string Text(string latin1) {
			for (int i = 0; i < latin1.Length; i++) {
				if (latin1[i] > '\x7f') {
					try {
						return StrictUtf8.GetString(Latin1.GetBytes(latin1));
					} catch (DecoderFallbackException) {
						return latin1;
					}
				}
			}
			return latin1;
		}

		public static string Get(Dictionary<string, string> vars, string name) {
			string value;
			return vars.TryGetValue(name, out value) ? value : "";
		}
	}

	/// <summary>Collects status, headers and body; streams out through the channel when flushed.</summary>
	public sealed class ResponseBuffer {
		const byte HasHead = 1;
		const byte Failed = 2;
		static readonly Encoding HeadEncoding = new UTF8Encoding(false);

		readonly RequestChannel channel;
		readonly bool headRequest;
		readonly StringBuilder headers = new StringBuilder(256);
		readonly MemoryStream body = new MemoryStream();
		string status = "200 OK";
		int statusCode = 200;
		bool framed;
		bool headSent;
		bool failed;
		bool discarded;

		public ResponseBuffer(RequestChannel channel, bool headRequest) {
			this.channel = channel;
			this.headRequest = headRequest;
		}

		public bool HeadSent { get { return headSent; } }
		public RequestChannel Channel { get { return channel; } }

		public void SetStatus(int code, string reason) {
			if (headSent)
				return;
			statusCode = code;
			status = code + " " + Clean(string.IsNullOrEmpty(reason) ? "Unknown" : reason);
		}

		public void AddHeader(string name, string value) {
			if (headSent)
				return;
			if (string.Equals(name, "Content-Length", StringComparison.OrdinalIgnoreCase)
					|| string.Equals(name, "Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
				framed = true;
			headers.Append(Clean(name)).Append(": ").Append(Clean(value ?? "")).Append("\r\n");
		}

		public void Write(byte[] data, int offset, int count) {
			if (count > 0)
				body.Write(data, offset, count);
		}

		public long Buffered { get { return body.Length; } }

		/// <summary>
		/// The application threw (already logged). With `discard` what it produced so far is dropped and
		/// polyhost answers 500 if nothing was sent; without, the response (an error page) goes out.
		/// </summary>
		public void MarkFailed(bool discard) {
			failed = true;
			if (discard) {
				discarded = true;
				body.SetLength(0);
			}
		}

		/// <summary>Sends what is buffered now (the headers first).</summary>
		public void Flush() {
			if (headSent && body.Length == 0)
				return;
			channel.Send(Pack(false));
			body.SetLength(0);
		}

		public void SendFile(string path, long offset, long length) {
			Flush();
			channel.SendFile(path, offset, length);
		}

		/// <summary>The rest of the response for Python; adds Content-Length when nothing was streamed.</summary>
		public byte[] Finish() {
			return Pack(true);
		}

		byte[] Pack(bool final) {
			byte flags = failed ? Failed : (byte) 0;
			byte[] head = null;
			if (!headSent && !discarded) {
				flags |= HasHead;
				if (final && !framed && !headRequest && BodyAllowed(statusCode))
					headers.Append("Content-Length: ").Append(body.Length).Append("\r\n");
				head = HeadEncoding.GetBytes(status + "\r\n" + headers + "\r\n");
				headSent = true;
			}
			int headLength = head == null ? 0 : head.Length;
			var packed = new byte[1 + headLength + body.Length];
			packed[0] = flags;
			if (head != null)
				Buffer.BlockCopy(head, 0, packed, 1, headLength);
			Buffer.BlockCopy(body.GetBuffer(), 0, packed, 1 + headLength, (int) body.Length);
			return packed;
		}

		static bool BodyAllowed(int code) {
			return code >= 200 && code != 204 && code != 304;
		}

		static string Clean(string text) {
			return text.IndexOf('\r') < 0 && text.IndexOf('\n') < 0
				? text : text.Replace("\r", " ").Replace("\n", " ");
		}
	}

	/// <summary>The request body: the part Python sent along, then reads through the channel.</summary>
	public sealed class RequestBodyStream : Stream {
		readonly byte[] preloaded;
		readonly long total;
		readonly RequestChannel channel;
		long position;

		public RequestBodyStream(byte[] preloaded, long total, RequestChannel channel) {
			this.preloaded = preloaded;
			this.total = total;
			this.channel = channel;
		}

		public override bool CanRead { get { return true; } }
		public override bool CanSeek { get { return false; } }
		public override bool CanWrite { get { return false; } }
		public override long Length { get { return total; } }

		public override long Position {
			get { return position; }
			set { throw new NotSupportedException("the request body can only be read forward"); }
		}

		public override int Read(byte[] buffer, int offset, int count) {
			if (count <= 0 || position >= total)
				return 0;
			count = (int) Math.Min(count, total - position);
			if (position < preloaded.Length) {
				int fromPreloaded = (int) Math.Min(count, preloaded.Length - position);
				Buffer.BlockCopy(preloaded, (int) position, buffer, offset, fromPreloaded);
				position += fromPreloaded;
				return fromPreloaded;
			}
			byte[] chunk = channel.Read(count);
			Buffer.BlockCopy(chunk, 0, buffer, offset, chunk.Length);
			position += chunk.Length;
			return chunk.Length;
		}

		public override void Flush() {}
		public override long Seek(long offset, SeekOrigin origin) { throw new NotSupportedException(); }
		public override void SetLength(long value) { throw new NotSupportedException(); }
		public override void Write(byte[] buffer, int offset, int count) { throw new NotSupportedException(); }
	}

	/// <summary>
	/// `--mono-handler Assembly.dll:Namespace.Class[.Method]`: a method (default `Handle`)
	/// `object[] Handle(IDictionary&lt;string,string&gt; env, Stream body)`, static or on an instance
	/// made once with the public parameterless constructor, returning {status, headers, body}.
	/// </summary>
	public sealed class SimpleHandler {
		const int StreamPiece = 65536;

		readonly Func<IDictionary<string, string>, Stream, object[]> handle;
		readonly string name;

		SimpleHandler(Func<IDictionary<string, string>, Stream, object[]> handle, string name) {
			this.handle = handle;
			this.name = name;
		}

		public static SimpleHandler Load(string assemblyPath, string typeName) {
			Assembly assembly = Assembly.LoadFrom(assemblyPath);
			string methodName = "Handle";
			Type type = assembly.GetType(typeName, false);
			if (type == null) {
				int dot = typeName.LastIndexOf('.');
				if (dot > 0) {
					type = assembly.GetType(typeName.Substring(0, dot), false);
					methodName = typeName.Substring(dot + 1);
				}
			}
			if (type == null)
				throw new ArgumentException(string.Format(
					"{0} has no public class {1} (classes: {2})", assemblyPath, typeName,
					string.Join(", ", Array.ConvertAll(assembly.GetExportedTypes(), t => t.FullName))));
			Type[] signature = { typeof(IDictionary<string, string>), typeof(Stream) };
			MethodInfo method = type.GetMethod(methodName, BindingFlags.Public | BindingFlags.Static
				| BindingFlags.Instance, null, signature, null);
			if (method == null || method.ReturnType != typeof(object[]))
				throw new ArgumentException(string.Format(
					"{0} has no public method object[] {1}(IDictionary<string,string> env, Stream body)",
					type.FullName, methodName));
			// a static constructor registering RPC functions or signal handlers runs at load time
			System.Runtime.CompilerServices.RuntimeHelpers.RunClassConstructor(type.TypeHandle);
			var delegateType = typeof(Func<IDictionary<string, string>, Stream, object[]>);
			Delegate call = method.IsStatic
				? Delegate.CreateDelegate(delegateType, method)
				: Delegate.CreateDelegate(delegateType, Activator.CreateInstance(type), method);
			return new SimpleHandler((Func<IDictionary<string, string>, Stream, object[]>) call,
				type.FullName + "." + methodName);
		}

		/// <summary>Runs one request; the result is packed as the file header says.</summary>
		public byte[] Invoke(string packedVars, long bodyAddress, int bodyLength, long totalLength, int requestId) {
			RequestChannel channel = Bridge.Channel;
			Dictionary<string, string> env = Vars.Parse(packedVars);
			var response = new ResponseBuffer(channel, Vars.Get(env, "REQUEST_METHOD") == "HEAD");
			api.SetRequestId(requestId);
			try {
				var body = new RequestBodyStream(Bridge.Copy(bodyAddress, bodyLength), totalLength, channel);
				object[] result = handle(env, body);
				Respond(response, result);
			} catch (Exception error) {
				Bridge.LogException(channel, Vars.Get(env, "REQUEST_METHOD") + " "
					+ Vars.Get(env, "REQUEST_URI") + ": exception in the .NET handler " + name, error);
				response.MarkFailed(true);
			}
			return response.Finish();
		}

		void Respond(ResponseBuffer response, object[] result) {
			if (result == null || result.Length != 3)
				throw new InvalidOperationException(name + " must return object[] {status, headers, body}, got "
					+ (result == null ? "null" : result.Length + " items"));
			if (result[0] is int) {
				int code = (int) result[0];
				response.SetStatus(code, StatusReasons.For(code));
			} else if (result[0] is string) {
				string line = (string) result[0];
				int space = line.IndexOf(' ');
				int code;
				if (!int.TryParse(space < 0 ? line : line.Substring(0, space), out code))
					throw new InvalidOperationException(name + ": bad status " + line);
				response.SetStatus(code, space < 0 ? StatusReasons.For(code) : line.Substring(space + 1));
			} else {
				throw new InvalidOperationException(name + ": the status must be an int or a string, got "
					+ (result[0] == null ? "null" : result[0].GetType().FullName));
			}
			AddHeaders(response, result[1]);
			WriteBody(response, result[2]);
		}

		void AddHeaders(ResponseBuffer response, object headers) {
			if (headers == null)
				return;
			var flat = headers as string[];
			if (flat != null) {
				if (flat.Length % 2 != 0)
					throw new InvalidOperationException(name + ": headers as string[] must be name, value pairs");
				for (int i = 0; i < flat.Length; i += 2)
					response.AddHeader(flat[i], flat[i + 1]);
				return;
			}
			var pairs = headers as IEnumerable<KeyValuePair<string, string>>;
			if (pairs != null) {
				foreach (var pair in pairs)
					response.AddHeader(pair.Key, pair.Value);
				return;
			}
			var dictionary = headers as System.Collections.IDictionary;
			if (dictionary != null) {
				foreach (System.Collections.DictionaryEntry entry in dictionary)
					response.AddHeader(Convert.ToString(entry.Key), Convert.ToString(entry.Value));
				return;
			}
			throw new InvalidOperationException(name + ": headers must be an IDictionary or a string[] of pairs, got "
				+ headers.GetType().FullName);
		}

		void WriteBody(ResponseBuffer response, object body) {
			if (body == null)
				return;
			var text = body as string;
			if (text != null) {
				byte[] data = Encoding.UTF8.GetBytes(text);
				response.Write(data, 0, data.Length);
				return;
			}
			var bytes = body as byte[];
			if (bytes != null) {
				response.Write(bytes, 0, bytes.Length);
				return;
			}
			var stream = body as Stream;
			if (stream == null)
				throw new InvalidOperationException(name + ": the body must be a string, byte[] or Stream, got "
					+ body.GetType().FullName);
			using (stream) {
				var file = stream as FileStream;
				if (file != null && file.CanSeek) {
					long offset = file.Position;
					response.SendFile(file.Name, offset, file.Length - offset);
					return;
				}
				var piece = new byte[StreamPiece];
				int count;
				while ((count = stream.Read(piece, 0, piece.Length)) > 0) {
					response.Write(piece, 0, count);
					if (response.Buffered >= StreamPiece)
						response.Flush();
				}
			}
		}
	}

	/// <summary>Reason phrases for status codes (without needing System.Web).</summary>
	public static class StatusReasons {
		public static string For(int code) {
			switch (code) {
			case 100: return "Continue";
			case 200: return "OK";
			case 201: return "Created";
			case 202: return "Accepted";
			case 204: return "No Content";
			case 206: return "Partial Content";
			case 301: return "Moved Permanently";
			case 302: return "Found";
			case 303: return "See Other";
			case 304: return "Not Modified";
			case 307: return "Temporary Redirect";
			case 308: return "Permanent Redirect";
			case 400: return "Bad Request";
			case 401: return "Unauthorized";
			case 403: return "Forbidden";
			case 404: return "Not Found";
			case 405: return "Method Not Allowed";
			case 409: return "Conflict";
			case 410: return "Gone";
			case 413: return "Content Too Large";
			case 415: return "Unsupported Media Type";
			case 422: return "Unprocessable Content";
			case 429: return "Too Many Requests";
			case 500: return "Internal Server Error";
			case 501: return "Not Implemented";
			case 502: return "Bad Gateway";
			case 503: return "Service Unavailable";
			case 504: return "Gateway Timeout";
			default: return "Unknown";
			}
		}
	}
}
