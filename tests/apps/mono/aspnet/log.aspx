<%@ Page Language="C#" %>
<script runat="server">
	void Page_Load(object sender, EventArgs e) {
		uwsgi.api.Log("log.aspx says " + Request.QueryString["say"]);
	}
</script>
<html><body>worker <%= uwsgi.api.WorkerId() %> of <%= uwsgi.api.NumProc() %>, master <%= uwsgi.api.MasterPid() %>, request <%= uwsgi.api.RequestId() %></body></html>
