<%@ Page Language="C#" %>
<script runat="server">
	void Page_Load(object sender, EventArgs e) {
		System.Threading.Thread.Sleep(int.Parse(Request.QueryString["ms"] ?? "5000"));
	}
</script>
<html><body>slept</body></html>
