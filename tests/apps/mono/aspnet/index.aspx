<%@ Page Language="C#" %>
<script runat="server">
	protected string Greeting;
	void Page_Load(object sender, EventArgs e) {
		Greeting = System.Configuration.ConfigurationManager.AppSettings["greeting"];
	}
</script>
<html><body>
<p id="greeting"><%= Greeting %></p>
<p id="sum"><%= 6 * 7 %></p>
<p id="name"><%= Server.HtmlEncode(Request.QueryString["name"] ?? "nobody") %></p>
<p id="app-path"><%= Request.ApplicationPath %></p>
<p id="path"><%= Request.Path %></p>
<p id="file-path"><%= Request.FilePath %></p>
<p id="path-info"><%= Request.PathInfo %></p>
<p id="raw-url"><%= Request.RawUrl %></p>
<p id="link"><%= ResolveUrl("~/echo.ashx") %></p>
<p id="worker"><%= uwsgi.api.WorkerId() %></p>
<p id="version"><%= uwsgi.api.Version() %></p>
</body></html>
