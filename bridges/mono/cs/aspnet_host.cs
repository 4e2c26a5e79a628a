// polyhost-aspnet.dll: ASP.NET (System.Web) applications for polyhost's Mono runtime.
//
// AspNetApps (default AppDomain) makes one AspNetHost per application with
// ApplicationHost.CreateApplicationHost(typeof(AspNetHost), virtualPath, physicalDir): ASP.NET
// creates the application's own AppDomain and the host lives there. Each request becomes a
// WorkerRequest (an HttpWorkerRequest over the uwsgi vars, the request body and a ResponseBuffer)
// run by HttpRuntime.ProcessRequest. When ASP.NET recycles the domain (web.config or bin/ changed)
// the host is made again.

using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Runtime.Remoting;
using System.Threading;
using System.Web;
using System.Web.Hosting;
using uwsgi;

namespace Polyhost.Mono.AspNet {

	/// <summary>The ASP.NET applications of this worker; Python calls these static methods.</summary>
	public static class AspNetApps {
		sealed class App {
			public string VirtualPath;
			public string PhysicalDir;
			public string[] IndexFiles;
			public AspNetHost Host;
		}

		static readonly List<App> apps = new List<App>();

		/// <summary>Creates the application's AppDomain and host; returns the app's index.</summary>
		public static int Create(string virtualPath, string physicalDir, string[] indexFiles) {
			var app = new App { VirtualPath = virtualPath, PhysicalDir = physicalDir, IndexFiles = indexFiles };
			app.Host = NewHost(app);
			apps.Add(app);
			return apps.Count - 1;
		}

		static AspNetHost NewHost(App app) {
			var host = (AspNetHost) ApplicationHost.CreateApplicationHost(
				typeof(AspNetHost), app.VirtualPath, app.PhysicalDir);
			host.Attach(Bridge.Channel, Bridge.Services, Bridge.WorkerId, Bridge.MasterPid, Bridge.Version,
				Bridge.NumProc, Bridge.Options, app.VirtualPath, app.PhysicalDir, app.IndexFiles);
			return host;
		}

		/// <summary>Serves one request (packed as bridge.cs describes).</summary>
		public static byte[] Process(int index, string packedVars, long bodyAddress, int bodyLength,
				long totalLength, int requestId) {
			App app = apps[index];
			byte[] preloaded = Bridge.Copy(bodyAddress, bodyLength);
			try {
				return app.Host.Process(packedVars, preloaded, totalLength, requestId);
			} catch (Exception error) when (error is AppDomainUnloadedException || error is RemotingException) {
				// ASP.NET unloaded the application's domain (a file changed): start it again
				Bridge.Channel.Log("ASP.NET application " + app.PhysicalDir + " was unloaded ("
					+ error.GetType().Name + "): restarting it");
				app.Host = NewHost(app);
				return app.Host.Process(packedVars, preloaded, totalLength, requestId);
			}
		}
	}

	/// <summary>Lives in the application's AppDomain; runs requests through HttpRuntime.</summary>
	public sealed class AspNetHost : MarshalByRefObject {
		RequestChannel channel;
		internal string VirtualPath;
		internal string PhysicalDir;
		internal string[] IndexFiles;

		public void Attach(RequestChannel requestChannel, ProcessServices services, int workerId, int masterPid,
				string version, int numProc, string[] options, string virtualPath, string physicalDir,
				string[] indexFiles) {
			channel = requestChannel;
			VirtualPath = virtualPath;
			PhysicalDir = physicalDir.EndsWith("/") ? physicalDir : physicalDir + "/";
			IndexFiles = indexFiles;
			api.Attach(services, workerId, masterPid, version, numProc, options);
		}

		public byte[] Process(string packedVars, byte[] preloaded, long totalLength, int requestId) {
			api.SetRequestId(requestId);
			Dictionary<string, string> vars = Vars.Parse(packedVars);
			var response = new ResponseBuffer(channel, Vars.Get(vars, "REQUEST_METHOD") == "HEAD");
			try {
				var request = new WorkerRequest(this, vars, preloaded, totalLength, response);
				if (!request.Answered) {
					HttpRuntime.ProcessRequest(request);
					request.WaitForEnd();
				}
			} catch (Exception error) {
				Bridge.LogException(channel, Vars.Get(vars, "REQUEST_METHOD") + " " + Vars.Get(vars, "REQUEST_URI")
					+ ": exception in the ASP.NET host for " + PhysicalDir, error);
				response.MarkFailed(true);
			}
			return response.Finish();
		}

		public override object InitializeLifetimeService() {
			return null;
		}
	}

	/// <summary>An HttpWorkerRequest over uwsgi vars: the request as nginx/polyhost describe it.</summary>
	sealed class WorkerRequest : HttpWorkerRequest {
		static readonly string[] KnownHeaderVars = MakeKnownHeaderVars();

		readonly AspNetHost host;
		readonly Dictionary<string, string> vars;
		readonly byte[] preloaded;
		readonly long totalLength;
		readonly ResponseBuffer response;
		readonly ManualResetEvent ended = new ManualResetEvent(false);
		string uriPath;
		string filePath;
		string pathInfo = "";
		string[][] unknownHeaders;
		bool errorsReported;
		long bodyRead;

		/// <summary>True when the request was answered here (a redirect or a bad path), not by ASP.NET.</summary>
		public bool Answered;

		public WorkerRequest(AspNetHost host, Dictionary<string, string> vars, byte[] preloaded, long totalLength,
				ResponseBuffer response) {
			this.host = host;
			this.vars = vars;
			this.preloaded = preloaded;
			this.totalLength = totalLength;
			this.response = response;
			ResolvePath();
		}

		// -- paths: SCRIPT_NAME is the application's virtual path, PATH_INFO the path inside it --------
		void ResolvePath() {
			string relative = Vars.Get(vars, "PATH_INFO");
			if (relative.Length == 0 || relative[0] != '/')
				relative = "/" + relative;
			string appPath = host.VirtualPath == "/" ? "" : host.VirtualPath;
			if (relative.Contains("/../") || relative.EndsWith("/..") || relative.IndexOf('\0') >= 0) {
				Answer(400, "Bad Request", null);
				return;
			}
			string physical = host.PhysicalDir + relative.Substring(1);
			if (Directory.Exists(physical)) {
				if (!relative.EndsWith("/") || Vars.Get(vars, "PATH_INFO").Length == 0) {
					// as uWSGI: a directory without its slash is redirected to it
					string location = appPath + relative.TrimEnd('/') + "/";
					string query = Vars.Get(vars, "QUERY_STRING");
					Answer(301, "Moved Permanently", query.Length > 0 ? location + "?" + query : location);
					return;
				}
				foreach (string index in host.IndexFiles) {
					if (File.Exists(physical + index)) {
						relative += index;
						break;
					}
				}
				filePath = appPath + relative;
				uriPath = filePath;
				return;
			}
			// "/page.aspx/extra": the file is the first segment that exists as a file
			int slash = relative.IndexOf('/', 1);
			while (slash > 0) {
				string candidate = relative.Substring(0, slash);
				if (candidate.LastIndexOf('.') > candidate.LastIndexOf('/')
						&& File.Exists(host.PhysicalDir + candidate.Substring(1))) {
					pathInfo = relative.Substring(slash);
					relative = candidate;
					break;
				}
				slash = relative.IndexOf('/', slash + 1);
			}
			filePath = appPath + relative;
			uriPath = filePath + pathInfo;
		}

		void Answer(int code, string reason, string location) {
			Answered = true;
			response.SetStatus(code, reason);
			if (location != null)
				response.AddHeader("Location", location);
			response.AddHeader("Content-Type", "text/plain; charset=utf-8");
			byte[] text = System.Text.Encoding.UTF8.GetBytes(reason + "\n");
			response.Write(text, 0, text.Length);
		}

		public void WaitForEnd() {
			// HttpRuntime.ProcessRequest may queue a request; wait until ASP.NET ended it
			ended.WaitOne();
		}

		public override string GetAppPath() { return host.VirtualPath; }
		public override string GetAppPathTranslated() { return host.PhysicalDir; }
		public override string GetUriPath() { return uriPath; }
		public override string GetFilePath() { return filePath; }
		public override string GetPathInfo() { return pathInfo; }
		public override string GetFilePathTranslated() { return MapPath(filePath); }
		public override string GetQueryString() { return Vars.Get(vars, "QUERY_STRING"); }

		public override byte[] GetQueryStringRawBytes() {
			string query;
			vars.TryGetValue("QUERY_STRING", out query);
			return string.IsNullOrEmpty(query) ? null : System.Text.Encoding.UTF8.GetBytes(query);
		}

		public override string GetRawUrl() {
			string uri = Vars.Get(vars, "REQUEST_URI");
			if (uri.Length > 0)
				return uri;
			string query = GetQueryString();
			return query.Length > 0 ? uriPath + "?" + query : uriPath;
		}

		public override string GetHttpVerbName() { return Vars.Get(vars, "REQUEST_METHOD"); }

		public override string GetHttpVersion() {
			string protocol = Vars.Get(vars, "SERVER_PROTOCOL");
			return protocol.Length > 0 ? protocol : "HTTP/1.0";
		}

		public override string GetRemoteAddress() { return Vars.Get(vars, "REMOTE_ADDR"); }
		public override int GetRemotePort() { return Number(Vars.Get(vars, "REMOTE_PORT")); }

		public override string GetLocalAddress() {
			string address = Vars.Get(vars, "SERVER_ADDR");
			return address.Length > 0 ? address : Vars.Get(vars, "SERVER_NAME");
		}

		public override int GetLocalPort() { return Number(Vars.Get(vars, "SERVER_PORT")); }

		public override string GetServerName() {
			string hostHeader = Vars.Get(vars, "HTTP_HOST");
			if (hostHeader.Length == 0)
				return Vars.Get(vars, "SERVER_NAME");
			if (hostHeader[0] == '[') {
				int bracket = hostHeader.IndexOf(']');
				return bracket > 0 ? hostHeader.Substring(0, bracket + 1) : hostHeader;
			}
			int colon = hostHeader.IndexOf(':');
			return colon > 0 ? hostHeader.Substring(0, colon) : hostHeader;
		}

		public override bool IsSecure() {
			string https = Vars.Get(vars, "HTTPS").ToLowerInvariant();
			return https == "on" || https == "1" || Vars.Get(vars, "UWSGI_SCHEME") == "https";
		}

		public override string GetProtocol() { return IsSecure() ? "https" : "http"; }

		public override string GetServerVariable(string name) {
			string value;
			if (vars.TryGetValue(name, out value))
				return value;
			// a CGI gateway: ASP.NET then leaves the transfer framing (chunked or not) to polyhost
			return name == "GATEWAY_INTERFACE" ? "CGI/1.1" : "";
		}

		public override string MapPath(string virtualPath) {
			string path = virtualPath ?? "";
			string appPath = host.VirtualPath;
			if (path.Length == 0 || path == appPath || path == "~")
				return host.PhysicalDir;
			if (path.StartsWith("~/"))
				path = path.Substring(1);
			if (appPath != "/" && path.StartsWith(appPath)
					&& (path.Length == appPath.Length || path[appPath.Length] == '/'))
				path = path.Substring(appPath.Length);
			return Path.Combine(host.PhysicalDir, path.TrimStart('/'));
		}

		// -- request headers: HTTP_* vars (CONTENT_TYPE, CONTENT_LENGTH without the prefix) -------------
		static string[] MakeKnownHeaderVars() {
			var names = new string[RequestHeaderMaximum];
			for (int index = 0; index < RequestHeaderMaximum; index++)
				names[index] = HeaderVar(GetKnownRequestHeaderName(index));
			return names;
		}

		static string HeaderVar(string header) {
			string key = header.ToUpperInvariant().Replace('-', '_');
			return key == "CONTENT_TYPE" || key == "CONTENT_LENGTH" ? key : "HTTP_" + key;
		}

		public override string GetKnownRequestHeader(int index) {
			string value;
			return index >= 0 && index < KnownHeaderVars.Length && vars.TryGetValue(KnownHeaderVars[index], out value)
				? value : null;
		}

		public override string GetUnknownRequestHeader(string name) {
			string value;
			return vars.TryGetValue(HeaderVar(name), out value) ? value : null;
		}

		public override string[][] GetUnknownRequestHeaders() {
			if (unknownHeaders != null)
				return unknownHeaders;
			var found = new List<string[]>();
			foreach (var pair in vars) {
				if (!pair.Key.StartsWith("HTTP_") || Array.IndexOf(KnownHeaderVars, pair.Key) >= 0)
					continue;
				found.Add(new[] { HeaderName(pair.Key.Substring(5)), pair.Value });
			}
			unknownHeaders = found.ToArray();
			return unknownHeaders;
		}

		static string HeaderName(string key) {
			var words = key.ToLowerInvariant().Split('_');
			for (int i = 0; i < words.Length; i++)
				if (words[i].Length > 0)
					words[i] = char.ToUpperInvariant(words[i][0]) + words[i].Substring(1);
			return string.Join("-", words);
		}

		// -- request body ---------------------------------------------------------------------------
		public override int GetTotalEntityBodyLength() { return (int) totalLength; }
		public override byte[] GetPreloadedEntityBody() { return preloaded.Length > 0 ? preloaded : null; }
		public override int GetPreloadedEntityBodyLength() { return preloaded.Length; }
		public override bool IsEntireEntityBodyIsPreloaded() { return preloaded.Length >= totalLength; }

		public override int ReadEntityBody(byte[] buffer, int size) {
			return ReadEntityBody(buffer, 0, size);
		}

		public override int ReadEntityBody(byte[] buffer, int offset, int size) {
			long left = totalLength - preloaded.Length - bodyRead;
			if (size <= 0 || left <= 0)
				return 0;
			byte[] chunk = response.Channel.Read((int) Math.Min(size, left));
			Buffer.BlockCopy(chunk, 0, buffer, offset, chunk.Length);
			bodyRead += chunk.Length;
			return chunk.Length;
		}

		// -- response -------------------------------------------------------------------------------
		public override void SendStatus(int statusCode, string statusDescription) {
			response.SetStatus(statusCode, statusDescription);
		}

		public override void SendKnownResponseHeader(int index, string value) {
			response.AddHeader(GetKnownResponseHeaderName(index), value);
		}

		public override void SendUnknownResponseHeader(string name, string value) {
			response.AddHeader(name, value);
		}

		public override void SendCalculatedContentLength(int contentLength) {
			response.AddHeader("Content-Length", contentLength.ToString(CultureInfo.InvariantCulture));
		}

		public override void SendCalculatedContentLength(long contentLength) {
			response.AddHeader("Content-Length", contentLength.ToString(CultureInfo.InvariantCulture));
		}

		public override bool HeadersSent() { return response.HeadSent; }

		public override void SendResponseFromMemory(byte[] data, int length) {
			response.Write(data, 0, Math.Min(length, data.Length));
		}

		public override void SendResponseFromFile(string filename, long offset, long length) {
			if (length < 0)
				length = new FileInfo(filename).Length - offset;
			if (length <= 0)
				return;
			if (length > 65536) {
				response.SendFile(filename, offset, length);
				return;
			}
			using (var file = File.OpenRead(filename))
				CopyFrom(file, offset, length);
		}

		public override void SendResponseFromFile(IntPtr handle, long offset, long length) {
			using (var file = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(handle, false), FileAccess.Read))
				CopyFrom(file, offset, length < 0 ? file.Length - offset : length);
		}

		void CopyFrom(Stream file, long offset, long length) {
			file.Seek(offset, SeekOrigin.Begin);
			var piece = new byte[(int) Math.Min(length, 65536)];
			int count;
			while (length > 0 && (count = file.Read(piece, 0, (int) Math.Min(piece.Length, length))) > 0) {
				response.Write(piece, 0, count);
				length -= count;
				if (response.Buffered >= 65536)
					response.Flush();
			}
		}

		public override void FlushResponse(bool finalFlush) {
			ReportErrors();
			if (!finalFlush)
				response.Flush();
		}

		public override void EndOfRequest() {
			ReportErrors();
			ended.Set();
		}

		public override void CloseConnection() {}
		public override bool IsClientConnected() { return true; }

		/// <summary>Unhandled exceptions of the page or handler: to the log with their .NET stack traces.</summary>
		void ReportErrors() {
			if (errorsReported)
				return;
			HttpContext context = HttpContext.Current;
			Exception[] errors = context == null ? null : context.AllErrors;
			if (errors == null || errors.Length == 0)
				return;
			errorsReported = true;
			foreach (Exception error in errors) {
				if (!IsApplicationError(error))
					continue;
				response.MarkFailed(false);
				Bridge.LogException(response.Channel, GetHttpVerbName() + " " + GetRawUrl()
					+ ": exception in the ASP.NET application " + host.PhysicalDir, error.GetBaseException() ?? error);
			}
		}

		/// <summary>Not a 4xx answer (a missing page) nor Mono's late flush of a file already sent.</summary>
		static bool IsApplicationError(Exception error) {
			var http = error as HttpException;
			if (http == null)
				return true;
			if (http.GetHttpCode() < 500 && http.InnerException == null)
				return false;
			return !http.Message.StartsWith("Server cannot flush a completed response", StringComparison.Ordinal);
		}

		static int Number(string text) {
			int value;
			return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value) ? value : 0;
		}
	}
}
